"""The survey web form: one radio group per item, built from the instrument."""

from __future__ import annotations

from typing import Any

from django import forms

from outcomes.instrument_format import InstrumentSpec
from outcomes.prompts import localised


class SurveyForm(forms.Form):
    """Every item optional while saving; on submit the view reports the required ones that
    are still empty. A value that is not one of the item's options is refused by the field."""

    def __init__(self, *args: Any, spec: InstrumentSpec, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        for number, item in enumerate(spec.items, start=1):
            self.fields[item.key] = forms.TypedChoiceField(
                label=f"{number}. {localised(item.text, language, spec)}",
                choices=[(o.value, localised(o.label, language, spec)) for o in item.options],
                coerce=int,
                empty_value=None,
                required=False,
                widget=forms.RadioSelect,
                error_messages={"invalid_choice": "Please choose one of the answers given."},
            )

    def answers(self) -> dict[str, int]:
        return {key: value for key, value in self.cleaned_data.items() if value is not None}
