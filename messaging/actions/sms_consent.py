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
from collections.abc import Callable, Iterable

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from audit.services import record
from messaging import events
from messaging.models import DeliveryStatus, OutboxStatus, SmsOutbox
from messaging.services import notify_open_conversations
from messaging.sms import texts
from people.models import ConsentKind, ConsentRecord, ConsentSource, Participant
from people.services import grant_consent, withdraw_consent

# Receivers get `participant` and `source`; they run inside the opt-out's transaction.
sms_opted_out = Signal()
sms_opted_in = Signal()
# Receivers get `participant` and only lock the rows of their own sends to the person, in the
# order their senders lock them; nothing is written. See `hold_own_sends`.
sms_opt_out_coming = Signal()


def hold_own_sends(*, participant: Participant) -> None:
    """Before anything of a STOP is written into the person's thread: a sender (the
    dispatcher) locks its rows, then the conversation, so STOP must take them in that order
    too, or the two deadlock and one is rolled back (the STOP, or the text it should stop).
    Must run inside the transaction that then opts the person out."""
    sms_opt_out_coming.send(sender=Participant, participant=participant)


def has_opted_out(participant: Participant) -> bool:
    """Whether the person's SMS consent was given and then withdrawn (START undoes that)."""
    return participant.pk in opted_out_ids([participant.pk])


def opted_out_ids(participant_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Of these people, those whose last SMS consent was given and then withdrawn: one query
    for the dispatcher's whole batch."""
    last: dict[uuid.UUID, bool] = {}
    records = (
        ConsentRecord.objects.filter(
            participant_id__in=list(participant_ids), kind=ConsentKind.SMS, programme__isnull=True
        )
        .order_by("participant_id", "-granted_at", "-pk")
        .values_list("participant_id", "withdrawn_at")
    )
    for participant_id, withdrawn_at in records:
        last.setdefault(participant_id, withdrawn_at is not None)
    return {participant_id for participant_id, opted_out in last.items() if opted_out}


def _last_sms_consent(participant: Participant) -> ConsentRecord | None:
    return (
        ConsentRecord.objects.filter(
            participant=participant, kind=ConsentKind.SMS, programme__isnull=True
        )
        .order_by("-granted_at", "-pk")
        .first()
    )


def _cancel_waiting_texts(participant: Participant) -> None:
    # Every waiting text, the answer to an earlier HELP too: after STOP, nothing more.
    waiting = SmsOutbox.objects.filter(participant=participant, status=OutboxStatus.PENDING)
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
    # The apps' own sends stop first: the scheduler locks the person's pending sends, waiting
    # for a dispatcher that holds them, and so in the dispatcher's order (pending sends, then
    # the conversation): no deadlock, and the texts it just queued are cancelled below.
    sms_opted_out.send(sender=Participant, participant=participant, source=source)
    _cancel_waiting_texts(participant)
    notice = (
        texts.NOTICE_OPTED_OUT_BY_CARRIER
        if source == ConsentSource.PROVIDER
        else texts.NOTICE_OPTED_OUT
    )
    notify_open_conversations(
        participant=participant, body=notice, client_id=f"sms-opt-out:{reference}"
    )
    # Last: the audit chain's lock is held from here to the commit.
    record(action="sms.opted_out", target=participant, details={"source": source})
    return True


@transaction.atomic
def opt_in_to_sms(*, participant: Participant, source: str, reference: str) -> bool:
    """Allow SMS again after an opt-out, under the version of the consent last given. Only
    an opt-out is undone: a person staff enrolled without SMS consent (a shared phone, their
    safety) gets none from a text saying "yes". Returns False when nothing changed (already
    opted in, or never consented)."""
    last = _last_sms_consent(participant)
    if last is None or last.withdrawn_at is None:
        return False
    grant_consent(
        participant=participant, kind=ConsentKind.SMS, version=last.version, source=source
    )
    sms_opted_in.send(sender=Participant, participant=participant, source=source)
    notify_open_conversations(
        participant=participant, body=texts.NOTICE_OPTED_IN, client_id=f"sms-opt-in:{reference}"
    )
    record(action="sms.opted_in", target=participant, details={"source": source})
    return True
