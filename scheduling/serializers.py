"""Request shapes and payloads for scheduled texts. Rules live in scheduling.services and
people.services: a kind, recurrence, text or date the service refuses answers with its code."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework import serializers

from encryption.services import DecryptionError
from people.models import Participant
from programmes.models import Enrolment
from scheduling.models import PendingSend, Reminder, SendRecord
from scheduling.selectors import reminder_text
from scheduling.timing import zone

CLOCK = "%H:%M"


def _clock_field(**kwargs: Any) -> serializers.TimeField:
    """A local wall-clock time, "HH:MM" (24-hour)."""
    return serializers.TimeField(input_formats=[CLOCK], format=CLOCK, **kwargs)


class ReminderSerializer(serializers.Serializer[Any]):
    # Kind, recurrence and text are checked by scheduling.services.create_reminder, which
    # answers with its own codes (invalid_reminder, invalid_reminder_text).
    kind = serializers.CharField(max_length=32, help_text="appointment, medication or other")
    text = serializers.CharField(
        allow_blank=True, trim_whitespace=False, help_text="1 to 320 characters"
    )
    local_time = _clock_field()
    first_date = serializers.DateField()
    recurrence = serializers.CharField(
        max_length=16, default="once", help_text="once, daily or weekly"
    )
    # Required for daily and weekly, within 366 days of the first date; ignored for once.
    last_date = serializers.DateField(required=False, allow_null=True, default=None)


class PreferencesSerializer(serializers.Serializer[Any]):
    # An unknown zone answers invalid_time_zone (people.services.validate_time_zone).
    time_zone = serializers.CharField(required=False, allow_blank=True)
    quiet_hours_start = _clock_field(required=False)
    quiet_hours_end = _clock_field(required=False)


class OwnEnrolmentQuerySerializer(serializers.Serializer[Any]):
    # Only for a service user with more than one ongoing enrolment.
    enrolment = serializers.UUIDField(required=False)


class ReminderListQuerySerializer(serializers.Serializer[Any]):
    all = serializers.BooleanField(default=False)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _local(moment: dt.datetime | None, tz_name: str) -> str | None:
    return moment.astimezone(zone(tz_name)).isoformat() if moment is not None else None


def _clock(moment: dt.time) -> str:
    return moment.strftime(CLOCK)


def preferences_payload(participant: Participant) -> dict[str, Any]:
    return {
        "time_zone": participant.time_zone,
        "quiet_hours_start": _clock(participant.quiet_hours_start),
        "quiet_hours_end": _clock(participant.quiet_hours_end),
    }


def stream_payload(row: PendingSend | None, *, tz_name: str) -> dict[str, Any] | None:
    """A stream's next send: its UTC due time and the same instant in the person's zone."""
    if row is None:
        return None
    return {
        "state": row.state,
        "stop_reason": row.stop_reason,
        "next_due_at": _iso(row.due_at),
        "next_local": _local(row.due_at, tz_name),
        "seq": row.seq,
        "sent_count": row.sent_count,
    }


def reminder_payload(
    reminder: Reminder, *, tz_name: str, with_text: bool = False
) -> dict[str, Any]:
    """A reminder; its text (decrypted) only when asked. An erased one (its data key destroyed)
    has none, and does not take the rest of the list down with it."""
    row = getattr(reminder, "pending_send", None)
    payload: dict[str, Any] = {
        "id": reminder.pk,
        "kind": reminder.kind,
        "local_time": _clock(reminder.local_time),
        "first_date": reminder.first_date.isoformat(),
        "recurrence": reminder.recurrence,
        "last_date": reminder.last_date.isoformat(),
        "created_at": reminder.created_at.isoformat(),
        "cancelled_at": _iso(reminder.cancelled_at),
        "state": row.state if row is not None else None,
        "stop_reason": row.stop_reason if row is not None else None,
        "next_due_at": _iso(row.due_at) if row is not None else None,
        "next_local": _local(row.due_at, tz_name) if row is not None else None,
    }
    if with_text:
        try:
            payload["text"] = reminder_text(reminder)
        except DecryptionError:
            payload["text"] = None
    return payload


def send_payload(record: SendRecord) -> dict[str, Any]:
    """What became of one send; never its text."""
    return {
        "stream": record.pending_send.stream,
        "reminder": record.pending_send.reminder_id,
        "seq": record.seq,
        "due_at": record.due_at.isoformat(),
        "outcome": record.outcome,
        "handled_at": record.handled_at.isoformat(),
    }


def texts_payload(
    enrolment: Enrolment,
    *,
    supportive: PendingSend | None,
    reminders: list[Reminder],
    sends: list[SendRecord],
) -> dict[str, Any]:
    participant = enrolment.participant
    tz_name = participant.time_zone
    return {
        "enrolment": str(enrolment.pk),
        "programme": enrolment.programme.slug,
        "preferences": preferences_payload(participant),
        "supportive": stream_payload(supportive, tz_name=tz_name),
        "reminders": [reminder_payload(r, tz_name=tz_name) for r in reminders],
        "sends": [send_payload(s) for s in sends],
    }
