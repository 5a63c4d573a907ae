"""SMS out (DESIGN.md §3, data flow 3): an outbox row -> the SMS backend -> MessageSid ->
delivery reports that move the status forward only.

Sending is not one transaction: the provider call must not hold a row lock, and a crash after
the provider accepted a text must not send it again. So a send is three short steps:

1. **claim**: lock the row, check consent, mark it `sending` (a lease) and count the attempt;
2. **hand over** to the backend, outside any transaction;
3. **record** the MessageSid (`sent`), or a temporary failure (`pending` again, with the next
   attempt's time, backing off exponentially) or a permanent one (`failed`; Twilio's 21610
   means the number opted out, and the person is opted out here too).

If a worker dies between 2 and 3, the lease runs out and the sweeper claims the row again;
but Twilio's status callback carries the row id (see `status_callback_url`), and a report for
a send we never recorded adopts its MessageSid, so the text is not sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from encryption.services import DecryptionError, decrypt
from messaging import events
from messaging.actions.sms_consent import opt_out_of_sms
from messaging.metrics import observe_delivery_on_commit
from messaging.models import (
    DELIVERY_RANK,
    FINAL_DELIVERY_RANK,
    DeliveryStatus,
    OutboxPurpose,
    OutboxStatus,
    OutboxTemplate,
    SmsOutbox,
)
from messaging.risk import texts as risk_texts
from messaging.selectors import message_ref
from messaging.services import first_row
from messaging.sms import texts
from messaging.sms.backends import (
    OPTED_OUT_ERROR_CODES,
    OutgoingSms,
    SmsPermanentError,
    SmsReceipt,
    SmsTemporaryError,
    send_sms,
)
from messaging.sms.intake import intake_field_ref
from messaging.sms.segments import count_segments
from messaging.sms.signatures import status_callback_url
from peerlink.bulk import update_rows
from people.models import ConsentSource
from people.selectors import participant_profile, sms_allowed_ids

logger = logging.getLogger(__name__)

# Twilio's message statuses, onto ours (DeliveryStatus). `read` is WhatsApp's; `canceled` a
# scheduled message that never went.
TWILIO_STATUSES: dict[str, str] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


@dataclass(frozen=True)
class ClaimedSend:
    outbox_id: int
    attempt: int
    sms: OutgoingSms


def _backoff(attempts: int) -> dt.timedelta:
    base = settings.SMS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    # Jitter, so that texts that failed together (a provider outage) don't retry together.
    jittered = base * random.uniform(0.8, 1.2)  # noqa: S311
    return dt.timedelta(seconds=min(jittered, settings.SMS_RETRY_MAX_SECONDS))


def _needs_consent(outbox: SmsOutbox) -> bool:
    """Everything needs the person's SMS consent except the answer to their own HELP and the
    one reply to an unknown number that wrote to us."""
    return outbox.purpose != OutboxPurpose.KEYWORD_REPLY and outbox.participant_id is not None


def _recipient(outbox: SmsOutbox) -> str:
    if outbox.participant is not None:
        return participant_profile(outbox.participant).phone
    if outbox.staff_id is not None:
        from staffing.services import staff_phone

        phone = staff_phone(outbox.staff_id)
        if phone is None:
            raise ValueError(f"outbox {outbox.pk}: the staff member has no escalation number")
        return phone
    intake = outbox.intake
    assert intake is not None
    return decrypt(
        data_key=intake.data_key,
        ciphertext=intake.phone_ciphertext,
        ref=intake_field_ref(intake.pk, "phone"),
    )


def _text(outbox: SmsOutbox) -> str:
    message = outbox.message
    if message is not None:
        return decrypt(
            data_key=message.conversation.data_key,
            ciphertext=message.body_ciphertext,
            ref=message_ref(message.id),
        )
    language = outbox.language or "en"
    if outbox.template == OutboxTemplate.HELP:
        return texts.help_text(outbox.programme, language)
    if outbox.template == OutboxTemplate.NO_CONVERSATION:
        return texts.no_conversation_text(outbox.programme, language)
    if outbox.template == OutboxTemplate.UNKNOWN_SENDER:
        return texts.unknown_sender_text(outbox.programme)
    if outbox.template == OutboxTemplate.CRISIS:
        return risk_texts.crisis_reply(outbox.programme, language)
    if outbox.template == OutboxTemplate.ESCALATION:
        return risk_texts.escalation_text(outbox.programme)
    if outbox.template == OutboxTemplate.SCHEDULED and outbox.scheduled_send is not None:
        from scheduling.selectors import record_text

        return record_text(outbox.scheduled_send, participant=outbox.participant)
    if outbox.template == OutboxTemplate.SURVEY and outbox.survey_prompt_id is not None:
        # Read here, not joined by the claim (SEND_RELATED): surveys are a few texts per
        # person a year, and every join there is paid by every SMS.
        from outcomes.prompts import survey_prompt_text

        return survey_prompt_text(outbox.survey_prompt_id)
    raise ValueError(f"outbox {outbox.pk} has nothing to send")


def _ring(outbox: SmsOutbox) -> None:
    """Tell the conversation's sockets where a message's SMS stands (after commit)."""
    if outbox.message_id is None:
        return
    message = outbox.message
    assert message is not None
    conversation_id, message_id, seq = message.conversation_id, message.id, message.seq
    status = outbox.delivery_status
    transaction.on_commit(lambda: events.delivery_changed(conversation_id, message_id, seq, status))


# What a send reads besides its row: the text (a message in its conversation, a scheduled
# send's library text or reminder, a programme's template) and the recipient. The other steps
# need only the message, for its doorbell. Joining all of it on every step cost 7 ms a call,
# most of it PostgreSQL planning the join, twice per SMS (docs/performance.md): now the claim
# joins it once for a chunk of rows, the others join the message alone.
SEND_RELATED = (
    "message__conversation__data_key",
    "participant__data_key",
    "intake__data_key",
    "programme",
    "scheduled_send__library_message",
    "scheduled_send__pending_send__reminder",
)


def _locked(outbox_id: int, *related: str) -> SmsOutbox | None:
    return first_row(
        SmsOutbox.objects.select_for_update(of=("self",))
        .select_related(*(related or ("message",)))
        .filter(pk=outbox_id)
    )


def _finish(outbox: SmsOutbox, *, status: str, delivery: str, now: dt.datetime) -> None:
    outbox.status = status
    outbox.delivery_status = delivery
    outbox.delivery_updated_at = now
    outbox.next_attempt_at = None
    outbox.save(
        update_fields=["status", "delivery_status", "delivery_updated_at", "next_attempt_at"]
    )
    _ring(outbox)


def claim(*, outbox_id: int) -> ClaimedSend | str:
    """Step 1: the send to hand over, or why there is none ("already-handled", "in-flight",
    "skipped", "expired", "failed", "missing")."""
    return claim_many(outbox_ids=[outbox_id], wait=True)[outbox_id]


def claim_many(*, outbox_ids: Sequence[int], wait: bool = False) -> dict[int, ClaimedSend | str]:
    """`claim` for a few rows in one transaction: one query locks them with all their sends
    read, one reads consent, one marks the claimed rows `sending`. Without `wait`, a row
    another transaction holds is left alone ("busy"): whoever holds it is handling it, and
    should it still be pending later, the sweeper rings for it again. So a chunk never waits
    on, or deadlocks with, a status callback or a STOP."""
    claimed: dict[int, ClaimedSend | str] = dict.fromkeys(outbox_ids, "missing")
    with transaction.atomic():
        rows = list(
            SmsOutbox.objects.select_for_update(of=("self",), skip_locked=not wait)
            .select_related(*SEND_RELATED)
            .filter(pk__in=claimed)
            .order_by("pk")
        )
        if not wait:
            busy = set(claimed) - {outbox.pk for outbox in rows}
            if busy:
                present = SmsOutbox.objects.filter(pk__in=busy).values_list("pk", flat=True)
                claimed.update(dict.fromkeys(present, "busy"))
        consenting = sms_allowed_ids(
            {outbox.participant_id for outbox in rows if outbox.participant_id is not None}
        )
        now = timezone.now()
        sending: list[SmsOutbox] = []
        for outbox in rows:
            claimed[outbox.pk] = _claim_row(outbox, consenting=consenting, now=now)
            if isinstance(claimed[outbox.pk], ClaimedSend):
                sending.append(outbox)
        update_rows(sending, ["status", "attempts", "claimed_at", "segments", "encoding"])
    return claimed


def _claim_row(
    outbox: SmsOutbox, *, consenting: set[uuid.UUID], now: dt.datetime
) -> ClaimedSend | str:
    """One locked row's claim (the caller saves a claimed row)."""
    lease = dt.timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS)
    if outbox.status == OutboxStatus.SENDING and (
        outbox.claimed_at is not None and outbox.claimed_at > now - lease
    ):
        return "in-flight"
    if outbox.status not in (OutboxStatus.PENDING, OutboxStatus.SENDING):
        return "already-handled"
    if outbox.expires_at is not None and now >= outbox.expires_at:
        _finish(outbox, status=OutboxStatus.EXPIRED, delivery=DeliveryStatus.NOT_SENT, now=now)
        logger.info("sms expired: past its staleness limit outbox=%s", outbox.pk)
        return "expired"
    if _needs_consent(outbox) and outbox.participant_id not in consenting:
        _finish(outbox, status=OutboxStatus.SKIPPED, delivery=DeliveryStatus.NOT_SENT, now=now)
        logger.info("sms skipped: no consent outbox=%s", outbox.pk)
        return "skipped"
    if outbox.attempts >= settings.SMS_SEND_MAX_ATTEMPTS:
        _finish(outbox, status=OutboxStatus.FAILED, delivery=DeliveryStatus.FAILED, now=now)
        logger.warning("sms failed: attempts exhausted outbox=%s", outbox.pk)
        return "failed"
    try:
        body, to = _text(outbox), _recipient(outbox)
    except (DecryptionError, ValueError) as exc:
        # Erased (its data key destroyed) or with nothing to send: it can never go out, so
        # it must not come round again every sweep.
        _finish(outbox, status=OutboxStatus.FAILED, delivery=DeliveryStatus.FAILED, now=now)
        logger.warning("sms cannot be sent outbox=%s: %s", outbox.pk, type(exc).__name__)
        return "failed"
    segments = count_segments(body)
    outbox.status = OutboxStatus.SENDING
    outbox.attempts += 1
    outbox.claimed_at = now
    outbox.segments = segments.segments
    outbox.encoding = segments.encoding
    return ClaimedSend(
        outbox_id=outbox.pk,
        attempt=outbox.attempts,
        sms=OutgoingSms(
            to=to,
            body=body,
            purpose=outbox.purpose,
            reference=str(outbox.pk),
            status_callback=status_callback_url(outbox.pk),
        ),
    )


ACCEPTED_FIELDS = [
    "provider_message_id",
    "status",
    "sent_at",
    "next_attempt_at",
    "error_code",
    "delivery_status",
    "delivery_updated_at",
]


def _record_accepted(accepted: Sequence[tuple[ClaimedSend, SmsReceipt]]) -> dict[int, str]:
    """Step 3 for the sends the provider took: each row's MessageSid, in one transaction."""
    results: dict[int, str] = {}
    with transaction.atomic():
        rows = {
            outbox.pk: outbox
            for outbox in SmsOutbox.objects.select_for_update(of=("self",))
            .select_related("message")
            .filter(pk__in=[claimed.outbox_id for claimed, _ in accepted])
            .order_by("pk")
        }
        now = timezone.now()
        changed: list[SmsOutbox] = []
        for claimed, receipt in accepted:
            outbox = rows.get(claimed.outbox_id)
            if outbox is None:
                results[claimed.outbox_id] = "missing"
                continue
            if (
                outbox.provider_message_id
                and outbox.provider_message_id != receipt.provider_message_id
            ):
                # Two accepted sends of one row: a lease ran out while the provider was slow.
                # The first MessageSid stands; the duplicate is logged for follow-up.
                logger.warning("sms sent twice outbox=%s attempt=%s", outbox.pk, claimed.attempt)
                results[claimed.outbox_id] = "duplicate"
                continue
            outbox.provider_message_id = receipt.provider_message_id
            if outbox.status != OutboxStatus.SENT:
                outbox.status = OutboxStatus.SENT
                outbox.sent_at = now
                outbox.error_code = None  # an earlier attempt's; a report that came first keeps its
            outbox.next_attempt_at = None
            reported = TWILIO_STATUSES.get(receipt.status.lower(), DeliveryStatus.QUEUED)
            if DELIVERY_RANK[reported] > DELIVERY_RANK[outbox.delivery_status]:
                outbox.delivery_status = reported
                outbox.delivery_updated_at = now
                _ring(outbox)
            changed.append(outbox)
            results[claimed.outbox_id] = "sent"
        update_rows(changed, ACCEPTED_FIELDS)
    return results


def _still_claimed(outbox: SmsOutbox | None, claimed: ClaimedSend) -> bool:
    """Still this attempt's: not adopted by a status callback, not claimed again after the
    lease ran out."""
    return (
        outbox is not None
        and outbox.status == OutboxStatus.SENDING
        and outbox.attempts == claimed.attempt
    )


def _record_temporary_failure(claimed: ClaimedSend, error: SmsTemporaryError) -> str:
    with transaction.atomic():
        outbox = _locked(claimed.outbox_id)
        if not _still_claimed(outbox, claimed):
            return "superseded"
        assert outbox is not None
        now = timezone.now()
        outbox.error_code = error.code
        if outbox.attempts >= settings.SMS_SEND_MAX_ATTEMPTS:
            outbox.save(update_fields=["error_code"])
            _finish(outbox, status=OutboxStatus.FAILED, delivery=DeliveryStatus.FAILED, now=now)
            logger.warning(
                "sms failed after %s attempts outbox=%s status=%s code=%s",
                outbox.attempts,
                outbox.pk,
                error.http_status,
                error.code,
            )
            return "failed"
        wait = _backoff(outbox.attempts)
        if error.ambiguous:
            # Twilio may have it: give its status callback time to adopt the send first.
            wait = max(wait, dt.timedelta(seconds=settings.SMS_AMBIGUOUS_RETRY_SECONDS))
        outbox.status = OutboxStatus.PENDING
        outbox.next_attempt_at = now + wait
        outbox.save(update_fields=["status", "next_attempt_at", "error_code"])
    logger.info(
        "sms attempt %s failed, will retry outbox=%s status=%s code=%s",
        claimed.attempt,
        claimed.outbox_id,
        error.http_status,
        error.code,
    )
    return "retry"


def _record_permanent_failure(claimed: ClaimedSend, error: SmsPermanentError) -> str:
    with transaction.atomic():
        outbox = _locked(claimed.outbox_id)
        if not _still_claimed(outbox, claimed):
            return "superseded"
        assert outbox is not None
        outbox.error_code = error.code
        outbox.save(update_fields=["error_code"])
        _finish(
            outbox, status=OutboxStatus.FAILED, delivery=DeliveryStatus.FAILED, now=timezone.now()
        )
        _opt_out_if_the_carrier_says_so(outbox, error.code)
    logger.warning(
        "sms refused by provider outbox=%s status=%s code=%s",
        claimed.outbox_id,
        error.http_status,
        error.code,
    )
    return "opted-out" if error.opted_out else "failed"


def send_outbox(*, outbox_id: int) -> str:
    """Send one outbox row, at most once per accepted send. Returns what happened."""
    claimed = claim(outbox_id=outbox_id)
    if isinstance(claimed, str):
        return claimed
    return _hand_over({outbox_id: claimed})[outbox_id]


def send_outboxes(*, outbox_ids: Sequence[int]) -> dict[int, str]:
    """`send_outbox` for a few rows (a chunk of a dispatcher batch): claimed together and
    recorded together, handed over one by one in between. A row another transaction holds is
    "busy" and left to the sweeper."""
    claimed = claim_many(outbox_ids=outbox_ids)
    results = {pk: outcome for pk, outcome in claimed.items() if isinstance(outcome, str)}
    results.update(
        _hand_over({pk: send for pk, send in claimed.items() if isinstance(send, ClaimedSend)})
    )
    return results


def _hand_over(claimed: dict[int, ClaimedSend]) -> dict[int, str]:
    """Step 2, outside any transaction, then step 3."""
    results: dict[int, str] = {}
    accepted: list[tuple[ClaimedSend, SmsReceipt]] = []
    try:
        for pk, send in claimed.items():
            try:
                accepted.append((send, send_sms(send.sms)))
            except SmsTemporaryError as exc:
                results[pk] = _record_temporary_failure(send, exc)
            except SmsPermanentError as exc:
                results[pk] = _record_permanent_failure(send, exc)
    finally:
        # Whatever stopped the loop, the texts already out are written down.
        if accepted:
            results.update(_record_with_retries(accepted))
    return results


RECORD_RETRY_SECONDS = (0.5, 1, 2, 4, 8, 16, 32, 64)


def _record_with_retries(accepted: list[tuple[ClaimedSend, SmsReceipt]]) -> dict[int, str]:
    """The texts are out: keep trying to write down their MessageSids through a database
    outage (within the lease), since a row left `sending` would be claimed and sent again."""
    for pause in (*RECORD_RETRY_SECONDS, None):
        try:
            return _record_accepted(accepted)
        except DatabaseError as exc:
            if pause is None:
                raise
            logger.warning(
                "sms sent but not recorded yet outbox=%s: %s",
                ",".join(str(claimed.outbox_id) for claimed, _ in accepted),
                type(exc).__name__,
            )
            if not connection.in_atomic_block and not connection.is_usable():
                connection.close()  # the next query opens a fresh one
            time.sleep(pause)
    raise AssertionError("unreachable")


def _adoptable(outbox_hint: int | None) -> SmsOutbox | None:
    """The row a report names in its callback URL, if that row has no MessageSid yet and its
    send may have gone out (a lost record, a timeout the provider acted on anyway)."""
    if outbox_hint is None:
        return None
    outbox = _locked(outbox_hint, "message", "participant__data_key")
    if outbox is None or outbox.provider_message_id:
        return None
    if outbox.status not in (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED):
        return None
    return outbox


def record_delivery_report(
    *, message_sid: str, status: str, error_code: int | None, outbox_hint: int | None
) -> str:
    """A status callback. Moves the delivery status forward only: repeats and late,
    out-of-order reports change nothing. Returns what happened."""
    reported = TWILIO_STATUSES.get(status.lower())
    if reported is None:
        logger.info("status callback with a status we don't track: %s", status[:20])
        return "ignored"
    with transaction.atomic():
        now = timezone.now()
        outbox = _locked_by_sid(message_sid)
        if outbox is None:
            outbox = _adoptable(outbox_hint)
            if outbox is None:
                logger.info("status callback for an unknown MessageSid (outbox=%s)", outbox_hint)
                return "unknown"
            _adopt(outbox, message_sid, reported, error_code, now)
            return "adopted"
        current = DELIVERY_RANK[outbox.delivery_status]
        if current >= FINAL_DELIVERY_RANK or DELIVERY_RANK[reported] <= current:
            return "unchanged"
        outbox.delivery_status = reported
        outbox.delivery_updated_at = now
        if error_code is not None:
            outbox.error_code = error_code
        outbox.save(update_fields=["delivery_status", "delivery_updated_at", "error_code"])
        if reported == DeliveryStatus.DELIVERED:
            # Once per row: the four final states share the top rank, so nothing moves a row
            # to delivered twice (a repeat, or a `read` after it, is "unchanged" above).
            observe_delivery_on_commit(sent_at=outbox.sent_at, reported_at=now)
        _ring(outbox)
        _opt_out_if_the_carrier_says_so(outbox, error_code)
    return "moved"


def _adopt(
    outbox: SmsOutbox, message_sid: str, reported: str, error_code: int | None, now: dt.datetime
) -> None:
    """A report for a send we never recorded: it went out after all. The report is the truth
    about it, whatever the row said (pending a retry, or given up on as failed)."""
    outbox.provider_message_id = message_sid
    outbox.status = OutboxStatus.SENT
    outbox.sent_at = outbox.sent_at or now
    outbox.next_attempt_at = None
    outbox.delivery_status = reported
    outbox.delivery_updated_at = now
    outbox.error_code = error_code
    outbox.save(
        update_fields=[
            "provider_message_id",
            "status",
            "sent_at",
            "next_attempt_at",
            "delivery_status",
            "delivery_updated_at",
            "error_code",
        ]
    )
    _ring(outbox)
    logger.info("status callback adopted a send outbox=%s", outbox.pk)
    _opt_out_if_the_carrier_says_so(outbox, error_code)


def _opt_out_if_the_carrier_says_so(outbox: SmsOutbox, error_code: int | None) -> None:
    """Twilio's 21610, at send time or in a report: the number opted out with the carrier."""
    if error_code in OPTED_OUT_ERROR_CODES and outbox.participant is not None:
        opt_out_of_sms(
            participant=outbox.participant,
            source=ConsentSource.PROVIDER,
            reference=f"outbox:{outbox.pk}",
        )


def _locked_by_sid(message_sid: str) -> SmsOutbox | None:
    return first_row(
        SmsOutbox.objects.select_for_update(of=("self",))
        .select_related("message", "participant__data_key")
        .filter(provider_message_id=message_sid)
    )
