"""Admin for availability. Leave and the rota are edited through the API (validated,
audited); here they are read-only. An escalation phone is never shown, not even encrypted."""

from __future__ import annotations

from django.contrib import admin

from peerlink.read_only_admin import ReadOnlyAdmin
from staffing.models import Leave, OnCallShift, StaffContact


@admin.register(Leave)
class LeaveAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "starts_at", "ends_at", "recorded_by")
    list_filter = ("starts_at",)
    date_hierarchy = "starts_at"


@admin.register(OnCallShift)
class OnCallShiftAdmin(ReadOnlyAdmin):
    list_display = ("id", "programme", "supervisor", "level", "starts_at", "ends_at")
    list_filter = ("programme", "level")
    date_hierarchy = "starts_at"


@admin.register(StaffContact)
class StaffContactAdmin(ReadOnlyAdmin):
    list_display = ("user", "updated_at")
    fields = ("user", "updated_at")
    readonly_fields = ("user", "updated_at")
