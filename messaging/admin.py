"""Admin for the chat. Message bodies and case notes are never shown here: Message and
CaseNote are not registered, and nothing below decrypts. Conversations and the SMS outbox are
read-only (they are written by services); saved replies are programme text, edited freely."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from messaging.models import Conversation, SavedReply, SmsOutbox


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "enrolment", "last_seq", "last_message_at", "created_at")
    # Ids, counters and times only; the data key is shown by id, never its material.
    fields = ("id", "enrolment", "data_key", "last_seq", "last_message_at", "created_at")
    readonly_fields = fields
    ordering = ("-last_message_at",)
    show_full_result_count = False


@admin.register(SmsOutbox)
class SmsOutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "message", "status", "attempts", "provider_message_id", "created_at")
    list_filter = ("status",)
    fields = (
        "id",
        "message",
        "status",
        "attempts",
        "provider_message_id",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields
    list_select_related = ("message",)
    ordering = ("-created_at",)


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin[SavedReply]):
    list_display = ("title", "programme", "peer_supporter", "language", "created_at")
    list_filter = ("programme", "language")
    search_fields = ("title",)
    raw_id_fields = ("peer_supporter",)
