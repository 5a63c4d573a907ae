"""The due-send dispatcher (DESIGN.md §3, data flow 4): one beat tick a minute, and
`manage.py dispatch_due`, run `dispatch_due`.

Hand-written (no library does this): Celery ETA tasks per send would put a year of texts
into the broker, where they are neither queryable nor replannable when someone moves time
zone. Instead each stream has one row with its next due time; a tick claims due rows in
batches, `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL so that any number of dispatchers
share the work without waiting or doubling. Each row is decided in memory (send, skip or
stop; the next due time), then the batch is written in a few statements: the messages
(channel `automated`, through `post_automated_messages`: the thread shows them, the outbox
texts them to SMS readers), the sends' records (unique on the row and its sequence number)
and the next due times. Should the batch's write fail, its rows are written one by one, each
in its own savepoint, so that only the row at fault waits. SQLite has no row locks: the
local profile runs one dispatcher loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from messaging import events
from messaging.actions.sms_consent import opted_out_ids
from messaging.models import Conversation, OutboxPurpose, OutboxTemplate, SmsOutbox
from messaging.risk.selectors import texts_paused_ids
from messaging.services import AutomatedPost, post_automated_messages
from messaging.sms.outbox import batched_rings, queue_sms_rows
from peerlink.bulk import update_rows
from people.selectors import sms_allowed_ids
from programmes.models import EnrolmentStatus, Programme
from scheduling.models import (
    MessageCategory,
    PendingSend,
    ProgrammeSchedule,
    SendOutcome,
    SendRecord,
    SendState,
    StopReason,
    Stream,
    TrackRule,
    WhenExhausted,
)
from scheduling.planning import PersonTiming, quiet_windows
from scheduling.selectors import approved_messages, reminder_text
from scheduling.services import replan_row, schedule_of, stop_row
from scheduling.timing import in_quiet_hours

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 200
# A row whose send failed unexpectedly is tried again this much later (until it goes stale).
RETRY_AFTER = dt.timedelta(minutes=5)


@dataclass
class Library:
    """Approved texts by (library, track, language), and programmes' schedules: read once
    per batch."""

    texts: dict[tuple[int, str, str], list[tuple[int, str]]] = field(default_factory=dict)
    schedules: dict[int, ProgrammeSchedule | None] = field(default_factory=dict)

    def schedule_for(self, programme: Programme) -> ProgrammeSchedule | None:
        if programme.pk not in self.schedules:
            self.schedules[programme.pk] = schedule_of(programme)
        return self.schedules[programme.pk]

    def texts_for(self, library_id: int, track: str, language: str) -> list[tuple[int, str]]:
        key = (library_id, track, language)
        if key not in self.texts:
            self.texts[key] = list(
                approved_messages(
                    library_id, track=track, category=MessageCategory.SUPPORTIVE, language=language
                ).values_list("pk", "text")
            )
        return self.texts[key]


@dataclass(frozen=True)
class BatchFacts:
    """What the per-row checks need, read for the whole batch in four queries rather than
    per row: who has opted out, who may get SMS, whose texts an alert holds, who has a
    thread."""

    opted_out: set[uuid.UUID]
    sms_allowed: set[uuid.UUID]
    paused_by_alert: set[uuid.UUID]
    conversations: dict[uuid.UUID, uuid.UUID]

    @classmethod
    def of(cls, rows: list[PendingSend]) -> BatchFacts:
        participants = {row.enrolment.participant_id for row in rows}
        enrolments = {row.enrolment_id for row in rows}
        return cls(
            opted_out=opted_out_ids(participants),
            sms_allowed=sms_allowed_ids(participants),
            paused_by_alert=texts_paused_ids(enrolments),
            conversations=dict(
                Conversation.objects.filter(enrolment_id__in=enrolments).values_list(
                    "enrolment_id", "pk"
                )
            ),
        )


@dataclass(frozen=True)
class Content:
    body: str
    library_message_id: int | None


class NoContent(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _supportive_content(row: PendingSend, schedule: ProgrammeSchedule, library: Library) -> Content:
    enrolment = row.enrolment
    language = enrolment.participant.language
    texts: list[tuple[int, str]] = []
    if schedule.track_rule == TrackRule.ENROLMENT and enrolment.track != "general":
        texts = library.texts_for(schedule.library_id, enrolment.track, language)
    if not texts:
        texts = library.texts_for(schedule.library_id, "general", language)
    if not texts:
        raise NoContent(StopReason.NO_CONTENT)
    if row.sent_count >= len(texts) and schedule.when_exhausted == WhenExhausted.STOP:
        raise NoContent(StopReason.EXHAUSTED)
    pk, text = texts[row.sent_count % len(texts)]
    return Content(text, pk)


def _reminder_content(row: PendingSend) -> Content:
    assert row.reminder is not None
    return Content(reminder_text(row.reminder, participant=row.enrolment.participant), None)


def _stop_reason(
    row: PendingSend, schedule: ProgrammeSchedule | None, facts: BatchFacts
) -> str | None:
    enrolment = row.enrolment
    if enrolment.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED):
        return StopReason.ENROLMENT_ENDED
    if row.stream == Stream.REMINDER:
        assert row.reminder is not None
        if row.reminder.cancelled_at is not None:
            return StopReason.CANCELLED
        if not enrolment.arm.reminder_texts:
            return StopReason.NOT_IN_ARM
    else:
        if schedule is None or not schedule.active:
            return StopReason.SCHEDULE_OFF
        if not enrolment.arm.supportive_texts:
            return StopReason.NOT_IN_ARM
    if enrolment.participant_id in facts.opted_out:
        return StopReason.OPTED_OUT
    return None


def _skip_reason(
    row: PendingSend, schedule: ProgrammeSchedule | None, now: dt.datetime, facts: BatchFacts
) -> str | None:
    enrolment = row.enrolment
    assert row.stale_at is not None
    if now >= row.stale_at:
        return SendOutcome.STALE
    person = PersonTiming.of(enrolment.participant)
    if in_quiet_hours(now, person.time_zone, quiet_windows(schedule, person)):
        return SendOutcome.QUIET_HOURS
    if enrolment.status == EnrolmentStatus.PAUSED:
        return SendOutcome.ENROLMENT_PAUSED
    # Reminders (an appointment, a medicine) still go during a risk alert; supportive texts
    # wait if the programme says so.
    if row.stream == Stream.SUPPORTIVE and enrolment.pk in facts.paused_by_alert:
        return SendOutcome.ALERT_PAUSE
    return None


PLANNED_FIELDS = [
    "state",
    "stop_reason",
    "due_at",
    "stale_at",
    "slot_date",
    "slot_index",
    "done_date",
    "done_index",
    "seq",
    "sent_count",
    "updated_at",
]


@dataclass
class Decision:
    """What one claimed row comes to, decided in memory (the row already moved on to its next
    send); `_write` stores a batch of them. A stopped row has no `outcome` record; a sent one
    has its `body`, and `conversation_id` when it goes into a thread."""

    row: PendingSend
    claimed_seq: int
    stopped: str | None = None
    outcome: str | None = None
    slot: tuple[dt.date, int] | None = None
    due_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    content: Content | None = None
    conversation_id: uuid.UUID | None = None

    @property
    def summary(self) -> str:
        """The outcome, or `stopped:<reason>`."""
        return f"stopped:{self.stopped}" if self.stopped else str(self.outcome)

    def client_id(self) -> str:
        return f"scheduled:{self.row.pk}:{self.claimed_seq}"

    def new_record(self, now: dt.datetime) -> SendRecord:
        assert self.outcome is not None and self.slot is not None and self.due_at is not None
        return SendRecord(
            pending_send=self.row,
            seq=self.claimed_seq,
            slot_date=self.slot[0],
            slot_index=self.slot[1],
            due_at=self.due_at,
            outcome=self.outcome,
            library_message_id=self.content.library_message_id if self.content else None,
            handled_at=now,
        )


def _decide(row: PendingSend, *, now: dt.datetime, library: Library, facts: BatchFacts) -> Decision:
    """Whether the row's due send goes (and with what text), is skipped or stops the stream;
    the row is moved on to its next send in memory. Reads only (the batch's facts, the
    library): `_write` stores it."""
    claimed_seq = row.seq
    enrolment = row.enrolment
    schedule = library.schedule_for(enrolment.programme)
    stop = _stop_reason(row, schedule, facts)
    if stop is not None:
        stop_row(row, state=SendState.STOPPED, reason=stop)
        return Decision(row, claimed_seq, stopped=stop)
    assert row.due_at is not None and row.slot_date is not None and row.slot_index is not None
    outcome = _skip_reason(row, schedule, now, facts)
    conversation_id = facts.conversations.get(enrolment.pk)
    if (
        outcome is None
        and conversation_id is None
        and enrolment.participant_id not in facts.sms_allowed
    ):
        # No thread and no SMS consent: nowhere the text could reach them.
        outcome = SendOutcome.NO_SMS_CONSENT
    content: Content | None = None
    if outcome is None:
        try:
            if row.stream == Stream.REMINDER:
                content = _reminder_content(row)
            else:
                assert schedule is not None
                content = _supportive_content(row, schedule, library)
        except NoContent as exc:
            stop_row(row, state=SendState.STOPPED, reason=exc.reason)
            return Decision(row, claimed_seq, stopped=exc.reason)
        outcome = SendOutcome.SENT
        row.sent_count += 1
    decision = Decision(
        row,
        claimed_seq,
        outcome=outcome,
        slot=(row.slot_date, row.slot_index),
        due_at=row.due_at,
        expires_at=row.stale_at,
        content=content,
        conversation_id=conversation_id,
    )
    row.done_date, row.done_index = row.slot_date, row.slot_index
    row.seq += 1
    # The next send after this one and after now: a long outage skips what it missed.
    replan_row(row, now=now, after=max(now, row.due_at), schedule=schedule)
    return decision


def _write(decisions: list[Decision], *, now: dt.datetime) -> None:
    """Store decided rows in a few statements for the lot: their texts into threads (labelled
    automated; the outbox texts them to SMS readers, not after the send goes stale), the
    send records, outbox rows for people without a thread, and each row's next send."""
    records = [(d, d.new_record(now)) for d in decisions if d.outcome is not None]
    posting: list[tuple[SendRecord, AutomatedPost]] = []
    for d, record in records:
        if d.content is not None and d.conversation_id is not None:
            post = AutomatedPost(
                conversation_id=d.conversation_id,
                client_id=d.client_id(),
                body=d.content.body,
                sms_expires_at=d.expires_at,
            )
            posting.append((record, post))
    messages = post_automated_messages(posts=[post for _, post in posting])
    for (record, _), message in zip(posting, messages, strict=True):
        record.message = message
    SendRecord.objects.bulk_create([record for _, record in records])
    queue_sms_rows(
        [
            _outbox_without_thread(d, record)
            for d, record in records
            if d.content is not None and d.conversation_id is None
        ]
    )
    updated_at = timezone.now()
    for d in decisions:
        d.row.updated_at = updated_at
    update_rows([d.row for d in decisions], PLANNED_FIELDS)


def _outbox_without_thread(decision: Decision, record: SendRecord) -> SmsOutbox:
    """A person with no thread (an arm without peer support): straight to the outbox, which
    reads the text from the record at send time."""
    enrolment = decision.row.enrolment
    participant = enrolment.participant
    return SmsOutbox(
        participant=participant,
        purpose=OutboxPurpose.AUTOMATED,
        template=OutboxTemplate.SCHEDULED,
        scheduled_send=record,
        programme=enrolment.programme,
        language=participant.language,
        expires_at=decision.expires_at,
    )


def _claim(now: dt.datetime, batch: int, failed: set[int]) -> list[PendingSend]:
    due = (
        PendingSend.objects.filter(state=SendState.SCHEDULED, due_at__lte=now)
        .exclude(pk__in=failed)
        .select_related(
            "enrolment__participant__data_key",
            "enrolment__programme",
            "enrolment__arm",
            "reminder",
        )
        .order_by("due_at", "pk")
    )
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due[:batch])


@dataclass
class DispatchResult:
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def handled(self) -> int:
        return sum(self.outcomes.values())


def _fail(
    pk: int,
    seq: int,
    exc: Exception,
    *,
    now: dt.datetime,
    failed: set[int],
    result: DispatchResult,
) -> None:
    """One row's failure (any kind: it must not hold up the batch's other people): nothing of
    it was written; it is tried again later. Not the person's text in the log: the row and the
    kind of failure."""
    logger.warning(
        "scheduled send failed, retrying later pending_send=%s seq=%s: %s",
        pk,
        seq,
        type(exc).__name__,
    )
    failed.add(pk)
    PendingSend.objects.filter(pk=pk, seq=seq).update(due_at=now + RETRY_AFTER)
    result.outcomes["failed"] += 1


def dispatch_due(
    *,
    now: dt.datetime | None = None,
    batch: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    max_seconds: float | None = None,
) -> DispatchResult:
    """Handle every due send: batch after batch until none is left, or `max_batches` were
    claimed, or `max_seconds` have passed (the beat's tick stops in time for the next one, so
    that ticks do not pile up on the workers). Any number may run at once on PostgreSQL;
    each row is handled exactly once."""
    result = DispatchResult()
    failed: set[int] = set()
    batches = 0
    started = time.monotonic()
    while max_batches is None or batches < max_batches:
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            break
        batches += 1
        tick = now or timezone.now()
        # Read afresh each batch: an admin's change (the schedule off, a text unapproved)
        # holds from the next batch on.
        library = Library()
        # After the batch's commit its doorbells (its messages, to the people's and peers'
        # sockets) ring together, then its sends start, a few per task.
        with batched_rings(), events.batched(), transaction.atomic():
            rows = _claim(tick, batch, failed)
            facts = BatchFacts.of(rows)
            decisions: list[Decision] = []
            for row in rows:
                claimed_seq = row.seq
                try:
                    decisions.append(_decide(row, now=tick, library=library, facts=facts))
                except DatabaseError:
                    # Deciding only reads, and what it reads is the batch's: the whole batch
                    # waits for the next tick (its transaction can't go on anyway).
                    raise
                except Exception as exc:
                    _fail(row.pk, claimed_seq, exc, now=tick, failed=failed, result=result)
            try:
                with transaction.atomic():
                    _write(decisions, now=tick)
                written = decisions
            except Exception:
                # Something in the batch can't be written: one by one, so that only that row
                # waits and the rest of the batch goes.
                written = []
                for decision in decisions:
                    try:
                        with transaction.atomic():
                            _write([decision], now=tick)
                        written.append(decision)
                    except Exception as exc:
                        _fail(
                            decision.row.pk,
                            decision.claimed_seq,
                            exc,
                            now=tick,
                            failed=failed,
                            result=result,
                        )
            result.outcomes.update(decision.summary for decision in written)
        if len(rows) < batch:
            break
    return result
