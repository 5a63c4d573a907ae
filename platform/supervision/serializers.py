"""Request shapes for the supervision endpoints. They check types only; the rules (dates,
roles, scales) live in `supervision.services`, which answer with their own error codes so that
a client learns what was wrong, not only that something was."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from messaging.services import MAX_CLIENT_ID_CHARS
from supervision.models import SessionKind
from supervision.services import (
    MAX_COURSE_TITLE_CHARS,
    MAX_NOTES_CHARS,
    MAX_PARTICIPANTS,
)

MAX_EXPIRY_WINDOW_DAYS = 3650


class StrictIntegerField(serializers.IntegerField):
    """A JSON number that is a whole number: no "3", no 3.0, no true. Ranges are the service's
    to check (its error says which range)."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return int(data)


class ProgrammeQuerySerializer(serializers.Serializer[Any]):
    programme = serializers.SlugField()


class ChecklistQuerySerializer(ProgrammeQuerySerializer):
    include_inactive = serializers.BooleanField(default=False)


class TrainingQuerySerializer(ProgrammeQuerySerializer):
    expiring_within_days = serializers.IntegerField(
        min_value=0, max_value=MAX_EXPIRY_WINDOW_DAYS, required=False
    )


class SessionSerializer(serializers.Serializer[Any]):
    programme = serializers.SlugField()
    client_id = serializers.CharField(max_length=MAX_CLIENT_ID_CHARS, trim_whitespace=False)
    held_on = serializers.DateField()
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    duration_minutes = StrictIntegerField()
    peer_supporters = serializers.ListField(
        child=StrictIntegerField(), max_length=MAX_PARTICIPANTS, allow_empty=True
    )
    # Stored as written (encrypted); may be empty: the session itself is the record.
    notes = serializers.CharField(
        max_length=MAX_NOTES_CHARS, allow_blank=True, trim_whitespace=False, default=""
    )


class FidelityCheckSerializer(serializers.Serializer[Any]):
    peer_supporter = StrictIntegerField()
    checklist = StrictIntegerField()
    # Each {"item": key, "score": n}; checked by the service against the checklist, so that a
    # wrong score says which rule it broke (unknown_item, missing_item, score_out_of_range...).
    scores = serializers.ListField(
        child=serializers.JSONField(),
        max_length=200,
        help_text='[{"item": "<item key>", "score": 0..scale_max}], every item exactly once',
    )


class TrainingSerializer(serializers.Serializer[Any]):
    programme = serializers.SlugField()
    user = StrictIntegerField()
    course_code = serializers.CharField(max_length=40)
    course_title = serializers.CharField(max_length=MAX_COURSE_TITLE_CHARS)
    completed_on = serializers.DateField()
    certified_until = serializers.DateField(required=False, allow_null=True, default=None)


class SessionOutSerializer(serializers.Serializer[Any]):
    """The schema of a session (the views return the selectors' dicts)."""

    id = serializers.UUIDField()
    programme = serializers.SlugField()
    supervisor = serializers.DictField()
    held_on = serializers.DateField()
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    duration_minutes = serializers.IntegerField()
    peer_supporters = serializers.ListField(child=serializers.DictField())
    created_by = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    notes = serializers.CharField(required=False, help_text="Detail only; the read is audited.")


class FidelityCheckOutSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    session = serializers.UUIDField()
    peer_supporter = serializers.DictField()
    checklist = serializers.DictField()
    scores = serializers.ListField(child=serializers.DictField())
    total = serializers.IntegerField()
    max_total = serializers.IntegerField()
    percentage = serializers.FloatField()
    recorded_by = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ChecklistOutSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    programme = serializers.SlugField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    active = serializers.BooleanField()
    max_total = serializers.IntegerField()
    items = serializers.ListField(child=serializers.DictField())


class TrainingOutSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    programme = serializers.SlugField()
    user = serializers.DictField()
    course_code = serializers.CharField()
    course_title = serializers.CharField()
    completed_on = serializers.DateField()
    certified_until = serializers.DateField(allow_null=True)
    expires_in_days = serializers.IntegerField(allow_null=True)
    recorded_by = serializers.IntegerField()
    created_at = serializers.DateTimeField()
