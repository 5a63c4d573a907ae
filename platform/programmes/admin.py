"""Admin for programme set-up. Enrolment and assignment go through services (allocation,
capacity, audit), so their admin pages are read-only; use the API or `seed_demo` to create."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from peerlink.errors import DomainError
from peerlink.read_only_admin import ReadOnlyAdmin
from people.services import validate_time_zone
from programmes.models import (
    Arm,
    CaseloadAssignment,
    Enrolment,
    Organisation,
    PeerChangeRequest,
    PeerSupporterProfile,
    Programme,
    Site,
    StaffRole,
    Team,
    TeamMembership,
)
from staffing.services import validate_working_hours


class SiteInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Site
    extra = 0


class ArmInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Arm
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin[Organisation]):
    list_display = ("slug", "name")


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin[Programme]):
    list_display = ("slug", "name", "organisation", "time_zone", "auto_assign")
    exclude = ("data_key",)
    inlines = [SiteInline, ArmInline]


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin[StaffRole]):
    list_display = ("user", "programme", "role", "granted_at")
    list_filter = ("programme", "role")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ("name", "programme", "supervisor")


@admin.register(TeamMembership)
class TeamMembershipAdmin(admin.ModelAdmin[TeamMembership]):
    list_display = ("team", "peer_supporter", "programme")


class PeerSupporterProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    """The same checks as the API: a bad shape saved here would keep the peer supporter off
    duty (or out of automatic assignment) without anyone noticing."""

    class Meta:
        model = PeerSupporterProfile
        fields = ("user", "capacity", "time_zone", "working_hours", "languages", "sites")

    def clean_working_hours(self) -> dict[str, list[str]]:
        try:
            return validate_working_hours(self.cleaned_data.get("working_hours"))
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_time_zone(self) -> str:
        try:
            return validate_time_zone(self.cleaned_data.get("time_zone") or "")
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_languages(self) -> list[str]:
        languages = self.cleaned_data.get("languages") or []
        if not isinstance(languages, list) or not all(
            isinstance(code, str) and code for code in languages
        ):
            raise forms.ValidationError('A list of language codes, e.g. ["en", "fr"]; [] for any.')
        return languages


@admin.register(PeerSupporterProfile)
class PeerSupporterProfileAdmin(admin.ModelAdmin[PeerSupporterProfile]):
    form = PeerSupporterProfileForm
    list_display = ("user", "capacity", "time_zone", "languages")
    # Sites: none of a programme's sites chosen means every site of that programme.
    filter_horizontal = ("sites",)
    raw_id_fields = ("user",)


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    # The arm is deliberately absent from the list: allocation is revealed once, at enrolment.
    # Age band and gender (for the anonymised export) are shown on the read-only page too.
    list_display = (
        "id",
        "programme",
        "site",
        "track",
        "status",
        "enrolled_at",
        "age_band",
        "gender",
    )
    list_filter = ("programme", "status")
    exclude = ("arm", "stratum", "allocation_number")


@admin.register(CaseloadAssignment)
class CaseloadAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("enrolment_id", "peer_supporter", "started_at", "ended_at", "reason")


@admin.register(PeerChangeRequest)
class PeerChangeRequestAdmin(ReadOnlyAdmin):
    # Answered through the API (a handoff with reason "request", or a decline), audited.
    list_display = ("id", "enrolment_id", "reason", "status", "requested_at", "handled_at")
    list_filter = ("status", "reason")
