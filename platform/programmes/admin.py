"""Admin for programme set-up. Enrolment and assignment go through services (allocation,
capacity, audit), so their admin pages are read-only; use the API or `seed_demo` to create."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from programmes.models import (
    Arm,
    CaseloadAssignment,
    Enrolment,
    Organisation,
    PeerSupporterProfile,
    Programme,
    Site,
    StaffRole,
    Team,
    TeamMembership,
)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
    list_display = ("slug", "name", "organisation", "time_zone")
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


@admin.register(PeerSupporterProfile)
class PeerSupporterProfileAdmin(admin.ModelAdmin[PeerSupporterProfile]):
    list_display = ("user", "capacity", "time_zone")


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    # The arm is deliberately absent from the list: allocation is revealed once, at enrolment.
    list_display = ("id", "programme", "site", "track", "status", "enrolled_at")
    list_filter = ("programme", "status")
    exclude = ("arm", "stratum", "allocation_number")


@admin.register(CaseloadAssignment)
class CaseloadAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("enrolment_id", "peer_supporter", "started_at", "ended_at", "reason")
