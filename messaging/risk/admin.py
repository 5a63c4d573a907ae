"""Programme admins edit the crisis lexicons here. Risk alerts are not in the admin: programme
admins may not see them (DESIGN.md §5); supervisors handle them through the API, audited."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin

from messaging.risk.models import LexiconEntry, LexiconKind


class LexiconEntryForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = LexiconEntry
        fields = ("language", "kind", "text", "replacement", "category", "severity", "active")

    def clean(self) -> dict[str, object]:
        cleaned: dict[str, object] = super().clean() or {}
        kind, text = cleaned.get("kind"), cleaned.get("text")
        if kind == LexiconKind.PATTERN and isinstance(text, str):
            try:
                re.compile(text)
            except re.error as exc:
                raise forms.ValidationError(f"Not a valid regular expression: {exc}") from None
        if kind == LexiconKind.SPELLING and not cleaned.get("replacement"):
            raise forms.ValidationError("A spelling needs what it means (replacement).")
        if kind in (LexiconKind.PHRASE, LexiconKind.PATTERN) and not cleaned.get("category"):
            raise forms.ValidationError("Phrases and patterns need a category.")
        return cleaned


@admin.register(LexiconEntry)
class LexiconEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = LexiconEntryForm
    list_display = ("language", "kind", "text", "category", "severity", "active", "source")
    list_filter = ("language", "kind", "category", "severity", "active", "source")
    search_fields = ("text", "replacement")

    def save_model(self, request: object, obj: LexiconEntry, form: object, change: bool) -> None:
        if not change:
            obj.source = "admin"
        super().save_model(request, obj, form, change)  # type: ignore[arg-type]
