from __future__ import annotations

from django.contrib import admin

from outcomes.models import Instrument
from peerlink.read_only_admin import ReadOnlyAdmin


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    """Instruments come in by `manage.py import_instrument` (validated, audited) and never
    change once stored."""

    list_display = ("slug", "version", "name", "built_in", "imported_at")
    list_filter = ("built_in",)
    search_fields = ("slug", "name")
