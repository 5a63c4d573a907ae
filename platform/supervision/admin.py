"""Admin for supervision records. Programme admins configure fidelity checklists here; a
checklist a check has used is frozen (its scores must keep their meaning), and the action
"new version" copies it into an editable next version. Sessions, checks and training records
are listed read-only: they are written through the services (validation, encryption, audit),
and session notes are never shown here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from access.permissions import programmes_with_role
from audit.services import record
from peerlink.errors import DomainError
from peerlink.read_only_admin import ReadOnlyAdmin
from people.models import User
from programmes.models import Programme, Role
from supervision import services
from supervision.models import (
    FidelityCheck,
    FidelityChecklist,
    FidelityItem,
    SupervisionSession,
    TrainingRecord,
)


def _programmes(request: HttpRequest) -> QuerySet[Programme]:
    """The programmes whose records this admin user may see: all for superusers, else those
    they hold the programme admin role in."""
    user = request.user
    if user.is_superuser:
        return Programme.objects.all()
    return programmes_with_role(user, Role.ADMIN)


def _is_used(obj: object) -> bool:
    return isinstance(obj, FidelityChecklist) and obj.pk is not None and obj.is_used


class ProgrammeScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(programme__in=_programmes(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "programme":
            kwargs["queryset"] = _programmes(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyScopedAdmin(ReadOnlyAdmin, ProgrammeScopedAdmin):
    """Written through the services (validated, audited); shown for the admin's programmes."""


class FidelityItemInline(admin.TabularInline):  # type: ignore[type-arg]
    model = FidelityItem
    extra = 0
    fields = ("position", "key", "text", "scale_max")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _is_used(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _is_used(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _is_used(obj) and super().has_delete_permission(request, obj)


@admin.register(FidelityChecklist)
class FidelityChecklistAdmin(ProgrammeScopedAdmin):
    list_display = ("name", "programme", "version", "active", "items_count", "checks_count")
    list_filter = ("programme", "active")
    fields = ("programme", "name", "version", "active")
    inlines = [FidelityItemInline]
    actions = ["make_new_version", "retire", "activate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                items_total=Count("items", distinct=True),
                checks_total=Count("checks", distinct=True),
            )
        )

    @admin.display(description="items")
    def items_count(self, obj: FidelityChecklist) -> int:
        return getattr(obj, "items_total", 0)

    @admin.display(description="checks")
    def checks_count(self, obj: FidelityChecklist) -> int:
        return getattr(obj, "checks_total", 0)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if _is_used(obj):
            # Frozen: retire or activate with the actions, change items in a new version.
            return ("programme", "name", "version", "active")
        if obj is not None:
            return ("programme", "name", "version")
        return ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _is_used(obj) and super().has_delete_permission(request, obj)

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm[Any],
        formsets: list[BaseInlineFormSet[Any, Any, Any]],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        checklist: FidelityChecklist = form.instance
        record(
            action="fidelity_checklist.edited" if change else "fidelity_checklist.created",
            actor=request.user if isinstance(request.user, User) else None,
            target=checklist,
            details={
                "programme": checklist.programme.slug,
                "version": checklist.version,
                "items": checklist.items.count(),
                "via": "admin",
            },
        )

    def _each(self, request: HttpRequest, queryset: QuerySet[Any], action: Any) -> None:
        assert isinstance(request.user, User)
        for checklist in queryset:
            try:
                action(checklist, request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)

    @admin.action(description="Make a new version (a copy of the items, to edit)")
    def make_new_version(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            lambda c, u: services.new_checklist_version(checklist=c, created_by=u),
        )

    @admin.action(description="Retire (no new checks with this version)")
    def retire(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            lambda c, u: services.set_checklist_active(checklist=c, active=False, changed_by=u),
        )

    @admin.action(description="Activate (retires the name's other versions)")
    def activate(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            lambda c, u: services.set_checklist_active(checklist=c, active=True, changed_by=u),
        )


@admin.register(SupervisionSession)
class SupervisionSessionAdmin(ReadOnlyScopedAdmin):
    # No notes, not even as ciphertext: programme admins do not read supervision notes.
    list_display = ("id", "programme", "supervisor", "held_on", "kind", "duration_minutes")
    list_filter = ("programme", "kind")
    fields = ("programme", "supervisor", "held_on", "kind", "duration_minutes", "created_at")
    date_hierarchy = "held_on"


@admin.register(FidelityCheck)
class FidelityCheckAdmin(ReadOnlyScopedAdmin):
    list_display = ("id", "session", "peer_supporter", "checklist", "total", "max_total")
    fields = ("session", "peer_supporter", "checklist", "total", "max_total", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return FidelityCheck.objects.filter(session__programme__in=_programmes(request))


@admin.register(TrainingRecord)
class TrainingRecordAdmin(ReadOnlyScopedAdmin):
    list_display = ("user", "programme", "course_code", "completed_on", "certified_until")
    list_filter = ("programme", "course_code")
    fields = (
        "user",
        "programme",
        "course_code",
        "course_title",
        "completed_on",
        "certified_until",
        "recorded_by",
        "created_at",
    )
