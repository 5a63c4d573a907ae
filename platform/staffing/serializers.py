"""Request shapes and payloads for availability. Rules live in staffing.services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from people.models import User
from people.selectors import staff_display_name
from programmes.models import PeerSupporterProfile
from staffing import availability
from staffing.models import Leave, OnCallShift


class OffsetDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time. Unlike DRF's field it keeps a time without an offset naive, instead
    of reading it in the server's zone, so that the service refuses it with a clear code."""

    def enforce_timezone(self, value: dt.datetime) -> dt.datetime:
        if timezone.is_naive(value):
            return value
        return super().enforce_timezone(value)


class WorkingHoursSerializer(serializers.Serializer[Any]):
    time_zone = serializers.CharField(max_length=64)
    # Shape checked by staffing.services.validate_working_hours, with its own error code.
    working_hours = serializers.JSONField()


class LeaveSerializer(serializers.Serializer[Any]):
    starts_at = OffsetDateTimeField()
    ends_at = OffsetDateTimeField()
    # A supervisor recording leave for a peer supporter of their team.
    user = serializers.IntegerField(required=False, min_value=1)


class ShiftSerializer(serializers.Serializer[Any]):
    supervisor = serializers.IntegerField(min_value=1)
    starts_at = OffsetDateTimeField()
    ends_at = OffsetDateTimeField()
    level = serializers.IntegerField(default=1)


class ContactSerializer(serializers.Serializer[Any]):
    phone = serializers.CharField(max_length=32, trim_whitespace=True)


def availability_payload(user: User, profile: PeerSupporterProfile | None) -> dict[str, Any]:
    """Someone without a profile has no working hours: they are never on duty as a peer
    supporter (supervisors are on duty by the on-call rota)."""
    upcoming = availability.next_on_duty(user) if profile is not None else None
    return {
        "time_zone": profile.time_zone if profile is not None else "UTC",
        "working_hours": profile.working_hours if profile is not None else {},
        "capacity": profile.capacity if profile is not None else None,
        "next_on_duty": upcoming.isoformat() if upcoming is not None else None,
    }


def leave_payload(leave: Leave) -> dict[str, Any]:
    return {
        "id": leave.id,
        "user": leave.user_id,
        "starts_at": leave.starts_at.isoformat(),
        "ends_at": leave.ends_at.isoformat(),
        "recorded_by": leave.recorded_by_id,
    }


def shift_payload(shift: OnCallShift, *, has_phone: bool, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": shift.id,
        "supervisor": {
            "id": shift.supervisor_id,
            "display_name": staff_display_name(shift.supervisor),
        },
        "level": shift.level,
        "starts_at": shift.starts_at.isoformat(),
        "ends_at": shift.ends_at.isoformat(),
        "on_call_now": shift.starts_at <= now < shift.ends_at,
        # Escalation texts need a number: a shift without one is a gap in the rota.
        "has_escalation_phone": has_phone,
    }
