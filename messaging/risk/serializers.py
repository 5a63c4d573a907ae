"""Request validation for the risk alert endpoints. Payloads are built by risk.selectors."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from messaging.risk.models import Resolution, RiskCategory, Severity
from messaging.risk.services import MAX_FLAG_NOTE_CHARS, MAX_NOTE_CHARS

STATUS_FILTERS = ("unresolved", "open", "acknowledged", "resolved")


class AlertListQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=STATUS_FILTERS, default="unresolved")


class FlagSerializer(serializers.Serializer[Any]):
    message = serializers.UUIDField()
    category = serializers.ChoiceField(choices=RiskCategory.choices, default=RiskCategory.OTHER)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.HIGH)
    note = serializers.CharField(
        max_length=MAX_FLAG_NOTE_CHARS, required=False, allow_blank=True, default=""
    )


class ResolveSerializer(serializers.Serializer[Any]):
    resolution = serializers.ChoiceField(choices=Resolution.choices)
    note = serializers.CharField(
        max_length=MAX_NOTE_CHARS, required=False, allow_blank=True, default=""
    )


class AlertNoteSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(max_length=MAX_NOTE_CHARS, trim_whitespace=False)
