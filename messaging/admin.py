"""Admin for the chat. Message bodies and case notes are never shown here: Message and
CaseNote are not registered, and nothing below decrypts. Conversations, the SMS outbox,
inbound texts and the intake are read-only (services write them); saved replies are programme
text, edited freely."""

from __future__ import annotations

from django.contrib import admin

from messaging.models import Conversation, InboundSms, SavedReply, SmsIntake, SmsOutbox
from peerlink.read_only_admin import ReadOnlyAdmin


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
    """Sends and their delivery: ids, codes and times, never the number or the text."""

    list_display = (
        "id",
        "purpose",
        "status",
        "delivery_status",
        "attempts",
        "error_code",
        "segments",
        "created_at",
    )
    list_filter = ("status", "delivery_status", "purpose")
    fields = (
        "id",
        "message",
        "participant",
        "intake",
        "purpose",
        "template",
        "status",
        "delivery_status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "provider_message_id",
        "segments",
        "encoding",
        "error_code",
        "created_at",
        "sent_at",
        "delivery_updated_at",
    )
    readonly_fields = fields
    ordering = ("-created_at",)
    show_full_result_count = False


@admin.register(InboundSms)
class InboundSmsAdmin(ReadOnlyAdmin):
    """What each inbound webhook became; the text itself lives encrypted elsewhere."""

    list_display = ("id", "message_sid", "outcome", "num_media", "received_at")
    list_filter = ("outcome",)
    fields = ("id", "message_sid", "outcome", "participant", "message", "num_media", "received_at")
    readonly_fields = fields
    ordering = ("-received_at",)
    show_full_result_count = False


@admin.register(SmsIntake)
class SmsIntakeAdmin(ReadOnlyAdmin):
    """Texts no conversation took. Number and text are read through the API (audited)."""

    list_display = ("id", "programme", "reason", "received_at", "resolved_at")
    list_filter = ("reason", "programme")
    fields = ("id", "programme", "participant", "reason", "received_at", "resolved_at")
    readonly_fields = fields
    ordering = ("-received_at",)
    show_full_result_count = False


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin[SavedReply]):
    list_display = ("title", "programme", "peer_supporter", "language", "created_at")
    list_filter = ("programme", "language")
    search_fields = ("title",)
    raw_id_fields = ("peer_supporter",)
