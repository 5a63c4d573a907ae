"""Programme admins review message libraries here (files, `import_library`, are the way to
load and change them in bulk), set the programme's text schedule, and look at pending sends
and their records (written only by the scheduler)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from peerlink.errors import DomainError
from peerlink.read_only_admin import ReadOnlyAdmin
from people.models import User
from scheduling.models import (
    LibraryMessage,
    MessageLibrary,
    PendingSend,
    ProgrammeSchedule,
    Reminder,
    SendRecord,
)
from scheduling.services import configure_schedule, validate_schedule


class LibraryMessageInline(admin.TabularInline):  # type: ignore[type-arg]
    """Shown, not edited: a text changed here would keep its approval without an audit
    entry. Clinical content changes through a file (`import_library`, audited)."""

    model = LibraryMessage
    extra = 0
    fields = ("key", "track", "category", "language", "position", "text", "approver", "approved_on")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(MessageLibrary)
class MessageLibraryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("slug", "name", "is_sample", "updated_at")
    readonly_fields = ("slug", "is_sample")
    inlines = [LibraryMessageInline]


@admin.register(LibraryMessage)
class LibraryMessageAdmin(ReadOnlyAdmin):
    list_display = ("key", "library", "track", "category", "language", "position", "approved_on")
    list_filter = ("library", "track", "category", "language")
    search_fields = ("key", "text")


class ProgrammeScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    """The service's checks (send times, quiet hours, limits) before anything is saved."""

    class Meta:
        model = ProgrammeSchedule
        fields = (
            "programme",
            "library",
            "active",
            "start_offset_days",
            "duration_days",
            "send_times",
            "quiet_hours_start",
            "quiet_hours_end",
            "track_rule",
            "when_exhausted",
            "staleness_minutes",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        candidate = ProgrammeSchedule(**{k: v for k, v in cleaned.items() if k != "programme"})
        try:
            validate_schedule(candidate)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return cleaned


@admin.register(ProgrammeSchedule)
class ProgrammeScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Saving goes through `configure_schedule`: audited, and every enrolment is replanned."""

    form = ProgrammeScheduleForm
    list_display = ("programme", "library", "active", "send_times", "duration_days")

    def save_model(
        self, request: HttpRequest, obj: ProgrammeSchedule, form: Any, change: bool
    ) -> None:
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields if name != "programme"}
        user = request.user if isinstance(request.user, User) else None
        saved = configure_schedule(programme=obj.programme, changed_by=user, **fields)
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Turn a schedule off (active) instead: its sends' history refers to it.
        return False


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    # The text is ciphertext and is not shown here; staff read it through the API.
    list_display = (
        "pk",
        "enrolment",
        "kind",
        "recurrence",
        "local_time",
        "first_date",
        "last_date",
        "cancelled_at",
    )
    exclude = ("body_ciphertext",)


@admin.register(PendingSend)
class PendingSendAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "enrolment",
        "stream",
        "state",
        "stop_reason",
        "due_at",
        "seq",
        "sent_count",
    )
    list_filter = ("stream", "state", "stop_reason")


@admin.register(SendRecord)
class SendRecordAdmin(ReadOnlyAdmin):
    list_display = ("pending_send", "seq", "slot_date", "due_at", "outcome", "handled_at")
    list_filter = ("outcome",)
