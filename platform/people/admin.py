"""Admin for people. Encrypted fields are shown decrypted only to programme admins (superusers
or holders of the admin role), and every such view is audited."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse

from audit.services import record
from people import services
from people.models import Channel, ConsentRecord, Participant, User
from people.selectors import mask_phone, participant_profile
from programmes.models import Role, StaffRole

# The admin instance is shared by all requests; display callbacks get only the object, so the
# request being served travels in a context variable (safe across threads and tasks).
_current_request: ContextVar[HttpRequest | None] = ContextVar("admin_request", default=None)


def can_see_identities(request: HttpRequest | None) -> bool:
    if request is None:
        return False
    user = request.user
    return bool(
        user.is_authenticated
        and (user.is_superuser or StaffRole.objects.filter(user=user, role=Role.ADMIN).exists())
    )


@admin.register(User)
class PeerlinkUserAdmin(UserAdmin):
    list_display = ("username", "first_name", "last_name", "is_staff", "is_active")


class ParticipantCreationForm(forms.ModelForm[Participant]):
    """Creating a participant goes through the service, which encrypts and indexes."""

    name = forms.CharField(max_length=services.NAME_MAX_LENGTH)
    phone = forms.CharField(max_length=32, help_text="With country code, e.g. +1 780 555 0101")

    class Meta:
        model = Participant
        fields = [
            "language",
            "time_zone",
            "preferred_channel",
            "quiet_hours_start",
            "quiet_hours_end",
        ]


CREATION_FIELDS = [
    "name",
    "phone",
    "language",
    "time_zone",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin[Participant]):
    list_display = ("id", "language", "time_zone", "preferred_channel", "created_at")
    list_filter = ("preferred_channel", "language")
    readonly_fields = ("id", "decrypted_name", "decrypted_phone", "created_at")
    fields = (
        "id",
        "decrypted_name",
        "decrypted_phone",
        "language",
        "time_zone",
        "preferred_channel",
        "quiet_hours_start",
        "quiet_hours_end",
        "created_at",
    )

    def get_form(
        self,
        request: HttpRequest,
        obj: Participant | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> Any:
        if obj is None:
            kwargs["form"] = ParticipantCreationForm
            kwargs["fields"] = CREATION_FIELDS
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Participant | None = None) -> Any:
        if obj is None:
            return CREATION_FIELDS
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Participant | None = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Participant, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.create_participant(
            name=form.cleaned_data["name"],
            phone=form.cleaned_data["phone"],
            language=form.cleaned_data["language"],
            time_zone=form.cleaned_data["time_zone"],
            preferred_channel=form.cleaned_data.get("preferred_channel") or Channel.SMS,
            quiet_hours_start=form.cleaned_data.get("quiet_hours_start"),
            quiet_hours_end=form.cleaned_data.get("quiet_hours_end"),
        )
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})
        record(action="participant.created", actor=request.user, target=created)  # type: ignore[arg-type]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        token = _current_request.set(request)
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()
        finally:
            _current_request.reset(token)
        if request.method == "GET" and response.status_code == 200:
            record(
                action="participant.viewed",
                actor=request.user,  # type: ignore[arg-type]
                details={
                    "participant": object_id,
                    "via": "admin",
                    "decrypted": can_see_identities(request),
                },
            )
        return response

    @admin.display(description="name")
    def decrypted_name(self, obj: Participant) -> str:
        if not can_see_identities(_current_request.get()):
            return "(hidden)"
        return participant_profile(obj).name

    @admin.display(description="phone")
    def decrypted_phone(self, obj: Participant) -> str:
        phone = participant_profile(obj).phone
        return phone if can_see_identities(_current_request.get()) else mask_phone(phone)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin[ConsentRecord]):
    list_display = ("participant_id", "programme", "kind", "version", "granted_at", "withdrawn_at")
    list_filter = ("kind",)
    readonly_fields = (
        "participant",
        "programme",
        "kind",
        "version",
        "granted_at",
        "granted_source",
        "recorded_by",
        "withdrawn_at",
        "withdrawn_source",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
