"""Opting out of SMS and back in: the STOP and START keywords, and the carrier's own opt-out
(Twilio error 21610).

Opting out, in one transaction: the SMS consent is withdrawn (the record is kept, closed);
every text still waiting in the outbox is cancelled; each open conversation gets a notice, so
that the peer supporter knows their replies will not arrive; the change is audited; and
`sms_opted_out` tells the apps with their own sends (scheduled texts, survey sessions) to
stop them. Opting in grants the consent again and sends `sms_opted_in`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from audit.services import record
from messaging import events
from messaging.models import (
    Conversation,
    DeliveryStatus,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    SenderRole,
    SmsOutbox,
)
from messaging.sms import texts
from people.models import ConsentKind, ConsentRecord, ConsentSource, Participant
from people.services import grant_consent, withdraw_consent
from programmes.models import EnrolmentStatus

# Receivers get `participant` and `source`; they run inside the opt-out's transaction.
sms_opted_out = Signal()
sms_opted_in = Signal()

# The consent version recorded when someone texts START without ever having given SMS consent
# through staff: their text is the consent.
KEYWORD_CONSENT_VERSION = "sms-keyword"


def _notify_open_conversations(participant: Participant, body: str, client_id: str) -> None:
    from messaging.services import post_message

    conversations = Conversation.objects.filter(
        enrolment__participant=participant,
        enrolment__status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED],
    ).values_list("pk", flat=True)
    for conversation_id in conversations:
        post_message(
            conversation_id=conversation_id,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.SYSTEM,
            body=body,
            client_id=client_id,
        )


def _cancel_waiting_texts(participant: Participant) -> None:
    waiting = SmsOutbox.objects.filter(
        participant=participant, status=OutboxStatus.PENDING
    ).exclude(purpose=OutboxPurpose.KEYWORD_REPLY)
    rings = list(
        waiting.filter(message__isnull=False).values_list(
            "message__conversation_id", "message_id", "message__seq"
        )
    )
    waiting.update(
        status=OutboxStatus.SKIPPED,
        delivery_status=DeliveryStatus.NOT_SENT,
        delivery_updated_at=timezone.now(),
        next_attempt_at=None,
    )
    for conversation_id, message_id, seq in rings:
        transaction.on_commit(_delivery_ring(conversation_id, message_id, seq))


def _delivery_ring(
    conversation_id: uuid.UUID, message_id: uuid.UUID, seq: int
) -> Callable[[], None]:
    return lambda: events.delivery_changed(
        conversation_id, message_id, seq, DeliveryStatus.NOT_SENT
    )


@transaction.atomic
def opt_out_of_sms(*, participant: Participant, source: str, reference: str) -> bool:
    """Stop every SMS to the person. Idempotent: a second STOP changes nothing and returns
    False. `reference` (the inbound MessageSid, or `outbox:<id>`) keys the thread notice."""
    closed = withdraw_consent(participant=participant, kind=ConsentKind.SMS, source=source)
    if not closed:
        return False
    _cancel_waiting_texts(participant)
    notice = (
        texts.NOTICE_OPTED_OUT_BY_CARRIER
        if source == ConsentSource.PROVIDER
        else texts.NOTICE_OPTED_OUT
    )
    _notify_open_conversations(participant, notice, f"sms-opt-out:{reference}")
    record(action="sms.opted_out", target=participant, details={"source": source})
    sms_opted_out.send(sender=Participant, participant=participant, source=source)
    return True


@transaction.atomic
def opt_in_to_sms(*, participant: Participant, source: str, reference: str) -> bool:
    """Allow SMS again, under the version of the consent last given (or the keyword's own).
    Idempotent: START while opted in changes nothing and returns False."""
    last = (
        ConsentRecord.objects.filter(
            participant=participant, kind=ConsentKind.SMS, programme__isnull=True
        )
        .order_by("-granted_at", "-pk")
        .first()
    )
    if last is not None and last.withdrawn_at is None:
        return False
    grant_consent(
        participant=participant,
        kind=ConsentKind.SMS,
        version=last.version if last is not None else KEYWORD_CONSENT_VERSION,
        source=source,
    )
    _notify_open_conversations(participant, texts.NOTICE_OPTED_IN, f"sms-opt-in:{reference}")
    record(action="sms.opted_in", target=participant, details={"source": source})
    sms_opted_in.send(sender=Participant, participant=participant, source=source)
    return True
