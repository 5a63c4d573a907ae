"""Programme admins set survey schedules here (through `configure_survey_schedule`: checked,
audited, and every live enrolment planned) and follow sessions' states. Answers and scores
are not shown: they are the person's health data, for their care team and, anonymised, the
evaluators."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from outcomes.models import Instrument, SurveySchedule, SurveySession
from outcomes.services import (
    TimepointSpec,
    check_timepoints,
    configure_survey_schedule,
    default_timepoints,
)
from peerlink.errors import DomainError
from peerlink.read_only_admin import ReadOnlyAdmin
from people.models import User


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    """Instruments come in by `manage.py import_instrument` (validated, audited) and never
    change once stored."""

    list_display = ("slug", "version", "name", "built_in", "imported_at")
    list_filter = ("built_in",)
    search_fields = ("slug", "name")


TIMEPOINTS_HELP = (
    "One timepoint per line: code | label | days after enrolment | days open | instruments "
    "(slugs, separated by spaces). For example: baseline | Baseline | 0 | 14 | phq9 gad7"
)


def timepoints_text(timepoints: list[TimepointSpec]) -> str:
    return "\n".join(
        f"{t.code} | {t.label} | {t.offset_days} | {t.window_days} | {' '.join(t.instruments)}"
        for t in timepoints
    )


def parse_timepoints(text: str) -> list[TimepointSpec]:
    """The admin's timepoint lines, or ValidationError naming the line at fault."""
    timepoints = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 5:
            raise ValidationError(f"Line {number}: give five parts separated by '|'.")
        code, label, offset, window, instruments = parts
        if not (offset.isdigit() and window.isdigit()):
            raise ValidationError(f"Line {number}: the days must be whole numbers.")
        timepoints.append(
            TimepointSpec(code, label or code, int(offset), int(window), tuple(instruments.split()))
        )
    return timepoints


class SurveyScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    timepoints = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 90}), help_text=TIMEPOINTS_HELP
    )

    class Meta:
        model = SurveySchedule
        fields = (
            "programme",
            "active",
            "send_time",
            "quiet_hours_start",
            "quiet_hours_end",
            "reminder_count",
            "reminder_interval_hours",
            "channel_rule",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schedule = self.instance
        if schedule.pk:
            self.fields["timepoints"].initial = timepoints_text(
                [
                    TimepointSpec(
                        t.code, t.label, t.offset_days, t.window_days, tuple(t.instruments)
                    )
                    for t in schedule.timepoints.all()
                ]
            )
        else:
            self.fields["timepoints"].initial = timepoints_text(
                default_timepoints(["phq9", "gad7"])
            )

    def clean_timepoints(self) -> list[TimepointSpec]:
        timepoints = parse_timepoints(self.cleaned_data["timepoints"])
        try:
            check_timepoints(timepoints)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return timepoints


@admin.register(SurveySchedule)
class SurveyScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Saving goes through `configure_survey_schedule`. Timepoints are added and changed, never
    removed here: sessions already planned refer to them (turn the schedule off instead)."""

    form = SurveyScheduleForm
    list_display = ("programme", "active", "send_time", "reminder_count", "channel_rule")

    def save_model(
        self, request: HttpRequest, obj: SurveySchedule, form: Any, change: bool
    ) -> None:
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields if name != "programme"}
        user = request.user if isinstance(request.user, User) else None
        saved = configure_survey_schedule(
            programme=obj.programme,
            changed_by=user,
            timepoints=form.cleaned_data["timepoints"],
            **fields,
        )
        obj.pk = saved.pk

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> tuple[str, ...]:
        # A schedule belongs to its programme: moving it would rewrite another's.
        return ("programme",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SurveySession)
class SurveySessionAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "enrolment",
        "timepoint",
        "instrument_slug",
        "channel",
        "state",
        "stop_reason",
        "opens_at",
        "next_action_at",
        "reminders_sent",
    )
    list_filter = ("state", "channel", "instrument_slug", "stop_reason")
    exclude = ("current_item",)
