"""Conversations and their messages, read markers, and the SMS outbox.

The database is the record: a message exists once it is committed here, with a gap-free
per-conversation sequence number. The channel layer only rings the doorbell.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from encryption.models import DataKey
from programmes.models import Enrolment


class Conversation(models.Model):
    """One per enrolment in an arm with peer support. Its data key encrypts every message
    and note in it; destroying the key erases the conversation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enrolment = models.OneToOneField(
        Enrolment, on_delete=models.PROTECT, related_name="conversation"
    )
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    last_seq = models.PositiveBigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["-last_message_at"])]

    def __str__(self) -> str:
        return f"Conversation {self.id}"


class MessageChannel(models.TextChoices):
    WEB = "web", "Web chat"
    SMS = "sms", "SMS"
    AUTOMATED = "automated", "Automated (not peer support)"
    SYSTEM = "system", "System notice"


class SenderRole(models.TextChoices):
    PARTICIPANT = "participant", "Service user"
    PEER_SUPPORTER = "peer_supporter", "Peer supporter"
    SUPERVISOR = "supervisor", "Supervisor"
    SYSTEM = "system", "peerlink"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveBigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sender_role = models.CharField(max_length=16, choices=SenderRole.choices)
    channel = models.CharField(max_length=16, choices=MessageChannel.choices)
    body_ciphertext = models.BinaryField()
    # The natural key that makes every write path idempotent: the web client's id, "sms:<sid>"
    # for inbound SMS, "scheduled:<id>" for automated texts.
    client_id = models.CharField(max_length=80)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="unique_message_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"], name="unique_message_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.conversation_id}#{self.seq}"


class ReadMarker(models.Model):
    """How far a member has read a conversation. Only ever moves forward."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="read_markers"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="one_read_marker_per_member"
            )
        ]

    def __str__(self) -> str:
        return f"Read marker {self.conversation_id} {self.user_id}@{self.seq}"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Handed to the SMS provider"
    FAILED = "failed", "Could not be sent"
    SKIPPED = "skipped", "Not sent (no SMS consent)"


class SmsOutbox(models.Model):
    """An SMS to send for a message. One per message: written in the message's transaction,
    sent by a task that carries only this row's id."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="sms_outbox")
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"SMS outbox {self.id} ({self.status})"


class SavedReply(models.Model):
    """A reusable reply: programme-wide (peer_supporter empty) or a peer supporter's own.
    Written by staff for staff; it is programme text, not personal data."""

    programme = models.ForeignKey(
        "programmes.Programme", on_delete=models.CASCADE, related_name="+"
    )
    peer_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    title = models.CharField(max_length=120)
    body = models.TextField(max_length=4000)
    language = models.CharField(max_length=16, default="en")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title


class CaseNote(models.Model):
    """A peer supporter's note about a conversation. Encrypted under the conversation's key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body_ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Case note {self.id}"
