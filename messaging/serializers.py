"""Request validation for the chat REST endpoints. Payloads are built by messaging.selectors."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from messaging.selectors import (
    BOUNDARY_PAGE_DEFAULT,
    BOUNDARY_PAGE_MAX,
    HISTORY_PAGE_DEFAULT,
    HISTORY_PAGE_MAX,
)
from messaging.services import MAX_BODY_CHARS, SAVED_REPLY_TITLE_CHARS

# Sequence numbers are PositiveBigIntegerField: anything larger can't be compared in SQL.
MAX_SEQ = 2**63 - 1


class HistoryQuerySerializer(serializers.Serializer[Any]):
    after_seq = serializers.IntegerField(min_value=0, max_value=MAX_SEQ, required=False)
    before_seq = serializers.IntegerField(min_value=0, max_value=MAX_SEQ, required=False)
    limit = serializers.IntegerField(
        min_value=1, max_value=HISTORY_PAGE_MAX, default=HISTORY_PAGE_DEFAULT
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "after_seq" in attrs and "before_seq" in attrs:
            raise serializers.ValidationError("Give after_seq or before_seq, not both.")
        return attrs


class ReadSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField(min_value=0, max_value=MAX_SEQ)


class CaseNoteSerializer(serializers.Serializer[Any]):
    # Not trimmed: the note is stored as written; a blank one is refused by the service.
    body = serializers.CharField(max_length=MAX_BODY_CHARS, trim_whitespace=False)


class SavedReplyQuerySerializer(serializers.Serializer[Any]):
    programme = serializers.SlugField()


class SavedReplySerializer(serializers.Serializer[Any]):
    programme = serializers.SlugField()
    title = serializers.CharField(max_length=SAVED_REPLY_TITLE_CHARS)
    body = serializers.CharField(max_length=MAX_BODY_CHARS)
    language = serializers.CharField(max_length=16, required=False)
    shared = serializers.BooleanField(default=False)


class MessagePageSerializer(serializers.Serializer[Any]):
    """Documentation of a history page (the schema); the view returns the selector's dict."""

    messages = serializers.ListField(child=serializers.DictField())
    next_after_seq = serializers.IntegerField()
    next_before_seq = serializers.IntegerField(allow_null=True)
    last_seq = serializers.IntegerField()


class BoundaryConfirmationQuerySerializer(serializers.Serializer[Any]):
    programme = serializers.SlugField()
    peer_supporter = serializers.IntegerField(min_value=1, required=False)
    # A cursor: rows older than this one (the `id` of the last row of the previous page).
    before = serializers.IntegerField(min_value=1, required=False)
    limit = serializers.IntegerField(
        min_value=1, max_value=BOUNDARY_PAGE_MAX, default=BOUNDARY_PAGE_DEFAULT
    )
