"""Conversations and their messages, read markers, the SMS outbox, inbound SMS and intake.

The database is the record: a message exists once it is committed here, with a gap-free
per-conversation sequence number. The channel layer only rings the doorbell.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

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
    """Where our side of a send stands. `sending` is a lease: a worker has claimed the row and
    may be talking to the provider; a lease that runs out is claimed again by the sweeper."""

    PENDING = "pending", "Waiting for an attempt"
    SENDING = "sending", "Being handed to the SMS provider"
    SENT = "sent", "Accepted by the SMS provider"
    FAILED = "failed", "Could not be sent"
    SKIPPED = "skipped", "Not sent (no SMS consent)"
    EXPIRED = "expired", "Not sent (too late: an automated text past its staleness limit)"


class DeliveryStatus(models.TextChoices):
    """What reached the phone, as the provider reports it. Moves forward only (DESIGN.md §3,
    data flow 3): see `DELIVERY_RANK`."""

    PENDING = "pending", "Not yet with the provider"
    QUEUED = "queued", "Queued by the provider"
    SENDING = "sending", "Being sent by the provider"
    SENT = "sent", "Sent to the carrier"
    DELIVERED = "delivered", "Delivered to the phone"
    UNDELIVERED = "undelivered", "Not delivered by the carrier"
    FAILED = "failed", "Could not be sent"
    NOT_SENT = "not_sent", "Not sent (no SMS consent)"


# Forward order. The four final states share the top rank: the first one reported stands.
DELIVERY_RANK: dict[str, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENDING: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
    DeliveryStatus.NOT_SENT: 4,
}
FINAL_DELIVERY_RANK = 4


class OutboxPurpose(models.TextChoices):
    CHAT = "chat", "A staff member's message"
    AUTOMATED = "automated", "An automated message"
    KEYWORD_REPLY = "keyword_reply", "The answer to HELP"
    INTAKE_REPLY = "intake_reply", "The reply to a number we could not match"
    CRISIS_REPLY = "crisis_reply", "Crisis resources sent when a risk alert opens"
    ESCALATION = "escalation", "A risk alert escalated to an on-call supervisor"


class OutboxTemplate(models.TextChoices):
    """Texts that are not messages of a conversation, written at send time from programme
    settings (never personal data)."""

    NONE = "", "The message's own text"
    HELP = "help", "Programme contact and crisis resources"
    UNKNOWN_SENDER = "unknown_sender", "Reply to an unknown number"
    NO_CONVERSATION = "no_conversation", "Reply to a person without a peer supporter"
    CRISIS = "crisis", "The programme's crisis resources"
    ESCALATION = "escalation", "A risk alert waits for an on-call supervisor"
    SCHEDULED = "scheduled", "A scheduled text to a person without a chat thread"
    SURVEY = "survey", "A survey's text (an invitation, a question, a reminder)"


class SmsOutbox(models.Model):
    """One SMS to send: written in the same transaction as what it sends (a message, or a
    keyword or intake reply), sent by a task that carries only this row's id.

    The recipient is a participant (their encrypted phone), an intake entry (an unknown
    number, encrypted on the entry) or a staff member (escalations; their encrypted
    contact). The row is the record of the send: attempts, the provider's MessageSid,
    segments, and the delivery status reported back."""

    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="sms_outbox"
    )
    participant = models.ForeignKey(
        "people.Participant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sms_outbox",
    )
    intake = models.ForeignKey(
        "messaging.SmsIntake",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="replies",
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    purpose = models.CharField(
        max_length=16, choices=OutboxPurpose.choices, default=OutboxPurpose.CHAT
    )
    template = models.CharField(
        max_length=16, choices=OutboxTemplate.choices, default=OutboxTemplate.NONE, blank=True
    )
    programme = models.ForeignKey(
        "programmes.Programme", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A scheduled text (supportive or reminder) to a person in an arm without peer support,
    # who has no conversation to hold it: the text is read from the send's record.
    scheduled_send = models.OneToOneField(
        "scheduling.SendRecord",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sms_outbox",
    )
    # A survey's text (outcomes/prompts.py writes its words at send time).
    survey_prompt = models.OneToOneField(
        "outcomes.SurveyPrompt",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sms_outbox",
    )
    language = models.CharField(max_length=16, blank=True)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Automated texts only: not handed over after this (retries past the staleness limit or
    # into quiet hours are given up, never sent at night).
    expires_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=64, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    encoding = models.CharField(max_length=8, blank=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivery_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["participant", "purpose", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="unique_outbox_provider_message_id",
            ),
            # Exactly one recipient: a participant, an unknown number's intake entry, or staff.
            models.CheckConstraint(
                condition=(
                    Q(participant__isnull=False) & Q(intake__isnull=True) & Q(staff__isnull=True)
                )
                | (Q(participant__isnull=True) & Q(intake__isnull=False) & Q(staff__isnull=True))
                | (Q(participant__isnull=True) & Q(intake__isnull=True) & Q(staff__isnull=False)),
                name="outbox_has_one_recipient_of_three",
            ),
        ]

    def __str__(self) -> str:
        return f"SMS outbox {self.id} ({self.status}, {self.delivery_status})"


class InboundOutcome(models.TextChoices):
    MESSAGE = "message", "Posted into the person's conversation"
    HANDLED = "handled", "Taken by another part of the service (a survey)"
    OPTED_OUT = "opted_out", "STOP family keyword"
    OPTED_IN = "opted_in", "START family keyword"
    HELP = "help", "HELP family keyword"
    UNKNOWN_SENDER = "unknown_sender", "A number we could not match (intake)"
    NO_CONVERSATION = "no_conversation", "A person without an open conversation (intake)"
    IGNORED = "ignored", "A keyword from an unknown number"


class InboundSms(models.Model):
    """One inbound webhook, kept by its MessageSid: the natural key that makes a redelivered
    webhook change nothing. It holds no text and no number (those live encrypted on the
    message or the intake entry), only what happened."""

    message_sid = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField()
    participant = models.ForeignKey(
        "people.Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=InboundOutcome.choices, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    num_media = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"Inbound SMS {self.id} ({self.outcome})"


class IntakeReason(models.TextChoices):
    UNKNOWN_SENDER = "unknown_sender", "A number that matches nobody enrolled"
    NO_CONVERSATION = "no_conversation", "An enrolled person without an open conversation"


class SmsIntake(models.Model):
    """A text that no conversation could take: from an unknown number, or from a person whose
    arm has no peer support or whose enrolment has ended. Supervisors see and resolve these, so
    that nothing anyone writes to the service is lost. Number and text are encrypted under the
    entry's own data key (destroying it erases the entry)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    programme = models.ForeignKey(
        "programmes.Programme",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sms_intake",
    )
    participant = models.ForeignKey(
        "people.Participant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=16, choices=IntakeReason.choices)
    inbound = models.OneToOneField(InboundSms, on_delete=models.PROTECT, related_name="intake")
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    phone_ciphertext = models.BinaryField()
    phone_index = models.CharField(max_length=64, db_index=True)
    body_ciphertext = models.BinaryField()
    received_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["resolved_at", "received_at"])]

    def __str__(self) -> str:
        return f"SMS intake {self.id} ({self.reason})"


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


class BoundaryConfirmation(models.Model):
    """A peer supporter sent a message that holds contact details after being warned
    (issue 6, item 6): written in the message's transaction, listed for supervision. It holds
    the kinds found (`phone`, `email`, `handle`, `link`), never the details themselves:
    supervisors read the message by opening the conversation, which is audited."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="boundary_confirmation"
    )
    peer_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kinds = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["peer_supporter", "created_at"])]

    def __str__(self) -> str:
        return f"Boundary confirmation {self.id}"
