"""Writes for supportive text programmes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from django.db import transaction
from django.db.models import FilteredRelation, Q, QuerySet
from django.utils import timezone

from audit.services import record
from encryption.services import encrypt
from peerlink.bulk import copy_rows
from peerlink.errors import Conflict, DomainError, NotFound
from peerlink.streaming import stream_values
from people.models import Participant, User
from programmes.models import Enrolment, EnrolmentStatus, Programme
from scheduling import planning
from scheduling.library_format import LibrarySpec
from scheduling.models import (
    LibraryMessage,
    MessageLibrary,
    PendingSend,
    ProgrammeSchedule,
    Recurrence,
    Reminder,
    ReminderKind,
    SendState,
    StopReason,
    Stream,
)
from scheduling.planning import (
    NextSend,
    PersonTiming,
    next_send,
    parse_send_times,
    quiet_windows,
    reminder_rules,
    staleness,
    supportive_rules,
)
from scheduling.selectors import reminder_ref
from scheduling.timing import zone

T = TypeVar("T")
LIVE_ENROLMENT = (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)

UPDATABLE = ("track", "category", "language", "position", "text", "author", "approver")


@dataclass(frozen=True)
class ImportCounts:
    created: int
    updated: int
    unchanged: int


@transaction.atomic
def import_library(*, spec: LibrarySpec, imported_by: User | None = None) -> ImportCounts:
    """Create or update the library and its messages by key, in one transaction: a file that
    fails anywhere writes nothing. Messages missing from the file are kept (an export of a
    library always holds them all; deleting clinical content is a deliberate admin act)."""
    library, _ = MessageLibrary.objects.update_or_create(
        slug=spec.slug, defaults={"name": spec.name, "is_sample": spec.is_sample}
    )
    existing = {m.key: m for m in LibraryMessage.objects.filter(library=library)}
    created = updated = unchanged = 0
    incoming = {m.key: m for m in spec.messages}
    # Moves between positions would collide on the unique (track, category, language,
    # position) one row at a time: park the changed rows on free positions first.
    moving = [
        current
        for key, current in existing.items()
        if key in incoming
        and (current.track, current.category, current.language, current.position)
        != (
            incoming[key].track,
            incoming[key].category,
            incoming[key].language,
            incoming[key].position,
        )
    ]
    kept = {
        (m.track, m.category, m.language, m.position): key
        for key, m in existing.items()
        if key not in incoming
    }
    for message in spec.messages:
        taken_by = kept.get((message.track, message.category, message.language, message.position))
        if taken_by is not None:
            raise DomainError(
                "position_taken",
                f"{message.key}: its position is held by {taken_by}, which the file does not "
                "list (export the library, edit that file, and import it again).",
            )
    for offset, parked in enumerate(moving, start=1):
        LibraryMessage.objects.filter(pk=parked.pk).update(position=10_000_000 + offset)
    for message in spec.messages:
        row = existing.get(message.key)
        values = {field: getattr(message, field) for field in UPDATABLE}
        values["approved_on"] = message.approved_on
        if row is None:
            LibraryMessage.objects.create(library=library, key=message.key, **values)
            created += 1
        elif row in moving or any(getattr(row, f) != v for f, v in values.items()):
            for field, value in values.items():
                setattr(row, field, value)
            row.save()
            updated += 1
        else:
            unchanged += 1
    record(
        action="library.imported",
        actor=imported_by,
        target=library,
        details={"created": created, "updated": updated, "unchanged": unchanged},
    )
    return ImportCounts(created, updated, unchanged)


# --- Schedules and pending sends (DESIGN.md §3, data flow 4) ---------------------------------

ACTIVE_STATES = (SendState.SCHEDULED, SendState.PAUSED)
# Stops that a replan lifts once their cause is gone (the schedule is on again, the arm was
# corrected, approved content arrived).
REPLANNABLE_STOPS = (StopReason.SCHEDULE_OFF, StopReason.NOT_IN_ARM, StopReason.NO_CONTENT)
MAX_DURATION_DAYS = 3650


def schedule_of(programme: Programme) -> ProgrammeSchedule | None:
    return ProgrammeSchedule.objects.filter(programme=programme).first()


def validate_schedule(schedule: ProgrammeSchedule) -> None:
    try:
        parse_send_times(schedule.send_times)
    except ValueError as exc:
        raise DomainError("invalid_send_times", str(exc)) from None
    if not 1 <= schedule.duration_days <= MAX_DURATION_DAYS:
        raise DomainError("invalid_duration", f"The duration is 1 to {MAX_DURATION_DAYS} days.")
    if not 1 <= schedule.staleness_minutes <= 24 * 60:
        raise DomainError("invalid_staleness", "The staleness limit is 1 to 1440 minutes.")
    windows = quiet_windows(schedule, PersonTiming("UTC", dt.time(0), dt.time(0)))
    for time in parse_send_times(schedule.send_times):
        if any(w.contains(time) for w in windows):
            raise DomainError(
                "send_time_in_quiet_hours",
                f"{time:%H:%M} falls in the programme's quiet hours.",
            )


@transaction.atomic
def configure_schedule(
    *, programme: Programme, changed_by: User | None, **fields: object
) -> ProgrammeSchedule:
    """Create or change the programme's text schedule (fields of ProgrammeSchedule, the
    library among them) and replan every enrolment's supportive texts in the same
    transaction."""
    allowed = {f.name for f in ProgrammeSchedule._meta.concrete_fields} - {
        "id",
        "programme",
        "updated_at",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise DomainError("invalid_schedule", f"Unknown schedule fields: {sorted(unknown)}.")
    schedule = ProgrammeSchedule.objects.select_for_update().filter(programme=programme).first()
    if schedule is None:
        if "library" not in fields:
            raise DomainError("invalid_schedule", "A new schedule needs a message library.")
        schedule = ProgrammeSchedule(programme=programme)
    for name, value in fields.items():
        setattr(schedule, name, value)
    validate_schedule(schedule)
    schedule.save()
    plan_programme(programme=programme)
    # Reminders follow the programme's quiet hours too.
    replan_rows(
        rows=_rows_of(
            Q(enrolment__programme=programme, stream=Stream.REMINDER, state=SendState.SCHEDULED)
        )
    )
    # Last: the audit chain's lock is held from here to the commit.
    record(
        action="text_schedule.changed",
        actor=changed_by,
        target=programme,
        details={"fields": sorted(fields)},
    )
    return schedule


@dataclass(frozen=True)
class PlanCounts:
    created: int
    replanned: int
    stopped: int


def _apply(row: PendingSend, upcoming: NextSend | None) -> None:
    if upcoming is None:
        stop_row(row, state=SendState.FINISHED, reason=StopReason.NONE)
        return
    row.state = SendState.SCHEDULED
    row.stop_reason = StopReason.NONE
    row.due_at = upcoming.slot.due_at
    row.stale_at = upcoming.stale_at
    row.slot_date, row.slot_index = upcoming.slot.key


def stop_row(row: PendingSend, *, state: str, reason: str) -> None:
    row.state = state
    row.stop_reason = reason
    row.due_at = row.stale_at = row.slot_date = row.slot_index = None


PLAN_FIELDS = ("state", "stop_reason", "due_at", "stale_at", "slot_date", "slot_index")


def _wants_supportive(schedule: ProgrammeSchedule | None, arm_sends: bool) -> str | None:
    """Why the supportive stream must not run (a StopReason), or None."""
    if schedule is None or not schedule.active:
        return StopReason.SCHEDULE_OFF
    if not arm_sends:
        return StopReason.NOT_IN_ARM
    return None


def plan_programme(
    *, programme: Programme, now: dt.datetime | None = None, chunk: int = 5000
) -> PlanCounts:
    """Plan the supportive stream of every active enrolment of the programme: create the
    missing pending rows and recompute the others, in bulk (DESIGN.md §7: a million in under
    a minute). People share time zones, enrolment days and quiet hours, so the next send is
    computed once per distinct combination, and rows that get the same one are written by
    one UPDATE."""
    now = now or timezone.now()
    schedule = schedule_of(programme)
    limit = staleness(schedule)
    computed: dict[tuple[object, ...], NextSend | None] = {}
    created = replanned = stopped = 0
    enrolments = (
        Enrolment.objects.filter(programme=programme, status__in=LIVE_ENROLMENT)
        .annotate(
            supportive=FilteredRelation(
                "pending_sends", condition=Q(pending_sends__stream=Stream.SUPPORTIVE)
            )
        )
        .order_by("pk")
        .values_list(
            "pk",
            "enrolled_at",
            "arm__supportive_texts",
            "participant__time_zone",
            "participant__quiet_hours_start",
            "participant__quiet_hours_end",
            "supportive__id",
        )
    )
    with transaction.atomic():
        # The schedule locked, as plan_enrolment locks it: no enrolment gets its row on its
        # own while the programme is planned, so a row missing from the read below is still
        # missing at the insert.
        list(ProgrammeSchedule.objects.select_for_update().filter(programme=programme))
        for batch in _chunks(stream_values(enrolments, chunk_size=chunk), chunk):
            # The rows that exist locked, so that a dispatcher sending one of them now is
            # waited for, and what it wrote is what is replanned; a first plan has none, and
            # spends no query here. Tuples, not model instances: this is the hot loop of a
            # million-row plan.
            existing = [e[6] for e in batch if e[6] is not None]
            rows = (
                {
                    r.enrolment_id: r
                    for r in map(
                        _Existing._make,
                        PendingSend.objects.select_for_update()
                        .filter(pk__in=existing)
                        .values_list(*_Existing._fields),
                    )
                }
                if existing
                else {}
            )
            new: list[tuple[object, ...]] = []
            updates: dict[tuple[object, ...], list[int]] = {}
            for pk, enrolled_at, arm_sends, tz_name, quiet_start, quiet_end, _ in batch:
                row = rows.get(pk)
                if row is not None and not (
                    row.state == SendState.SCHEDULED
                    or (row.state == SendState.STOPPED and row.stop_reason in REPLANNABLE_STOPS)
                ):
                    continue  # paused, opted out, finished: left as they are
                reason = _wants_supportive(schedule, arm_sends)
                if row is None and reason is not None:
                    continue  # no texts for this person: no row either
                values: tuple[object, ...]
                if reason is not None:
                    values = (SendState.STOPPED, reason, None, None, None, None)
                else:
                    assert schedule is not None
                    person = PersonTiming(tz_name, quiet_start, quiet_end)
                    local_day = enrolled_at.astimezone(zone(tz_name)).date()
                    done = row.done if row is not None else None
                    after = _after(row.state, row.due_at, now) if row is not None else now
                    key = (person, local_day, done, after)
                    if key not in computed:
                        rules = supportive_rules(schedule, enrolled_at=enrolled_at, person=person)
                        computed[key] = next_send(rules, after=after, done=done, limit=limit)
                    values = _plan_values(computed[key])
                if row is None:
                    new.append((pk, *values))
                else:
                    updates.setdefault(values, []).append(row.id)
            _insert_planned(new, now=now)
            created += len(new)
            for values, pks in updates.items():
                PendingSend.objects.filter(pk__in=pks).update(
                    **dict(zip(PLAN_FIELDS, values, strict=True)), updated_at=now
                )
                if values[0] == SendState.SCHEDULED:
                    replanned += len(pks)
                else:
                    stopped += len(pks)
    return PlanCounts(created, replanned, stopped)


class _Existing(NamedTuple):
    enrolment_id: uuid.UUID
    id: int
    state: str
    stop_reason: str
    due_at: dt.datetime | None
    done_date: dt.date | None
    done_index: int | None

    @property
    def done(self) -> tuple[dt.date, int] | None:
        if self.done_date is None or self.done_index is None:
            return None
        return (self.done_date, self.done_index)


def _plan_values(upcoming: NextSend | None) -> tuple[object, ...]:
    """PLAN_FIELDS for a row whose next send is `upcoming` (None: the stream is over)."""
    if upcoming is None:
        return (SendState.FINISHED, StopReason.NONE, None, None, None, None)
    return (
        SendState.SCHEDULED,
        StopReason.NONE,
        upcoming.slot.due_at,
        upcoming.stale_at,
        upcoming.slot.local_date,
        upcoming.slot.index,
    )


INSERT_COLUMNS = ("enrolment_id", *PLAN_FIELDS)


def _insert_planned(new: list[tuple[object, ...]], *, now: dt.datetime) -> None:
    """New supportive rows (enrolment id, then PLAN_FIELDS): by COPY on PostgreSQL, where a
    million-row plan spends much of its time writing."""
    if new:
        copy_rows(
            PendingSend,
            (*INSERT_COLUMNS, "stream", "seq", "sent_count", "updated_at"),
            ((*row, Stream.SUPPORTIVE.value, 1, 0, now) for row in new),
        )


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _after(state: str, due_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """From when a replan looks for the next slot: now, except that a send already due and
    not yet dispatched stays due (a replan racing the dispatcher must not skip it)."""
    if state == SendState.SCHEDULED and due_at is not None and due_at <= now:
        return due_at - dt.timedelta(microseconds=1)
    return now


_READ = object()


def replan_row(
    row: PendingSend,
    *,
    now: dt.datetime,
    after: dt.datetime | None = None,
    schedule: ProgrammeSchedule | object | None = _READ,
) -> None:
    """Recompute a row's next send from its stream's rules (time zone, times and quiet hours
    as they are now), after the last slot handled and after `after` (default: see
    `_after`). The caller saves."""
    after = _after(row.state, row.due_at, now) if after is None else after
    enrolment = row.enrolment
    if schedule is _READ:
        schedule = schedule_of(enrolment.programme)
    assert schedule is None or isinstance(schedule, ProgrammeSchedule)
    person = PersonTiming.of(enrolment.participant)
    limit = staleness(schedule)
    if row.stream == Stream.REMINDER:
        assert row.reminder is not None
        if row.reminder.cancelled_at is not None:
            stop_row(row, state=SendState.STOPPED, reason=StopReason.CANCELLED)
            return
        rules = reminder_rules(row.reminder, schedule, person)
    else:
        reason = _wants_supportive(schedule, enrolment.arm.supportive_texts)
        if reason is not None:
            stop_row(row, state=SendState.STOPPED, reason=reason)
            return
        assert schedule is not None
        rules = supportive_rules(schedule, enrolled_at=enrolment.enrolled_at, person=person)
    _apply(row, next_send(rules, after=after, done=planning.done_key(row), limit=limit))


def _rows_of(enrolment_filter: Q) -> QuerySet[PendingSend]:
    return (
        PendingSend.objects.select_for_update(of=("self",))
        .select_related(
            "enrolment__participant", "enrolment__programme", "enrolment__arm", "reminder"
        )
        .filter(enrolment_filter)
        .order_by("pk")
    )


@transaction.atomic
def plan_enrolment(*, enrolment: Enrolment, now: dt.datetime | None = None) -> PendingSend | None:
    """Create or recompute the enrolment's supportive stream (after enrolment, or when its
    track or arm changed). None when the person gets no supportive texts."""
    now = now or timezone.now()
    # The schedule locked: an admin switching it on now is waited for, then seen.
    schedule = (
        ProgrammeSchedule.objects.select_for_update().filter(programme=enrolment.programme).first()
    )
    row = _rows_of(Q(enrolment=enrolment, stream=Stream.SUPPORTIVE)).first()
    if row is None:
        if _wants_supportive(schedule, enrolment.arm.supportive_texts) is not None:
            return None
        row = PendingSend(enrolment=enrolment, stream=Stream.SUPPORTIVE, state=SendState.SCHEDULED)
    elif row.state not in (SendState.SCHEDULED, SendState.STOPPED) or (
        row.state == SendState.STOPPED and row.stop_reason not in REPLANNABLE_STOPS
    ):
        return row
    replan_row(row, now=now, schedule=schedule)
    row.save()
    return row


def replan_rows(*, rows: QuerySet[PendingSend], now: dt.datetime | None = None) -> int:
    """Recompute the next send of each (locked) row. Returns how many."""
    now = now or timezone.now()
    count = 0
    for row in rows:
        replan_row(row, now=now)
        row.save()
        count += 1
    return count


@transaction.atomic
def replan_participant(*, participant: Participant, now: dt.datetime | None = None) -> int:
    """Recompute every scheduled send of the person (their time zone or quiet hours changed).
    Returns how many rows were replanned."""
    return replan_rows(
        rows=_rows_of(Q(enrolment__participant=participant, state=SendState.SCHEDULED)), now=now
    )


@transaction.atomic
def stop_streams(*, enrolment_filter: Q, reason: str, states: Sequence[str] = ACTIVE_STATES) -> int:
    rows = list(_rows_of(enrolment_filter & Q(state__in=states)))
    for row in rows:
        stop_row(row, state=SendState.STOPPED, reason=reason)
        row.save()
    return len(rows)


def hold_streams(*, participant: Participant) -> None:
    """Lock the person's pending sends (waiting for a dispatcher that holds them) and change
    nothing: the first step of a STOP, so that it takes its locks in the dispatcher's order."""
    list(
        PendingSend.objects.select_for_update(of=("self",))
        .filter(enrolment__participant=participant)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def resume_after_opt_in(*, participant: Participant, now: dt.datetime | None = None) -> int:
    """START: the streams that STOP stopped plan their next send from now (nothing missed is
    sent late)."""
    now = now or timezone.now()
    rows = list(
        _rows_of(
            Q(
                enrolment__participant=participant,
                enrolment__status__in=LIVE_ENROLMENT,
                state=SendState.STOPPED,
                stop_reason=StopReason.OPTED_OUT,
            )
        )
    )
    for row in rows:
        replan_row(row, now=now)
        row.save()
    return len(rows)


def _locked_supportive(enrolment: Enrolment) -> PendingSend:
    row = _rows_of(Q(enrolment=enrolment, stream=Stream.SUPPORTIVE)).first()
    if row is None:
        raise NotFound("no_texts", "This person has no supportive texts planned.")
    return row


@transaction.atomic
def pause_texts(*, enrolment: Enrolment, by: User) -> PendingSend:
    """Staff pause the person's supportive texts (idempotent). Reminders carry on."""
    row = _locked_supportive(enrolment)
    if row.state == SendState.PAUSED:
        return row
    if row.state != SendState.SCHEDULED:
        raise Conflict("texts_not_running", "These texts are not running, so cannot pause.")
    stop_row(row, state=SendState.PAUSED, reason=StopReason.NONE)
    row.save()
    record(action="texts.paused", actor=by, target=enrolment, details={})
    return row


@transaction.atomic
def resume_texts(*, enrolment: Enrolment, by: User, now: dt.datetime | None = None) -> PendingSend:
    """Resume after a staff pause: the next send is planned from now (idempotent)."""
    row = _locked_supportive(enrolment)
    if row.state == SendState.SCHEDULED:
        return row
    if row.state != SendState.PAUSED:
        raise Conflict("texts_not_paused", "These texts are not paused.")
    replan_row(row, now=now or timezone.now())
    row.save()
    record(action="texts.resumed", actor=by, target=enrolment, details={})
    return row


# --- Reminders --------------------------------------------------------------------------------


MAX_REMINDER_CHARS = 320
MAX_REMINDER_DAYS = 366


@transaction.atomic
def create_reminder(
    *,
    enrolment: Enrolment,
    kind: str,
    body: str,
    local_time: dt.time,
    first_date: dt.date,
    recurrence: str = Recurrence.ONCE,
    last_date: dt.date | None = None,
    created_by: User | None,
    now: dt.datetime | None = None,
) -> Reminder:
    """A reminder for one person at a local time (theirs), once or every day or week up to
    `last_date`. Refused, writing nothing: an ended enrolment, an arm without reminders, a
    time in the person's quiet hours, a first date already past, an empty or long text."""
    now = now or timezone.now()
    if kind not in ReminderKind.values or recurrence not in Recurrence.values:
        raise DomainError("invalid_reminder", "Unknown reminder kind or recurrence.")
    body = body.strip() if isinstance(body, str) else ""
    if not body or len(body) > MAX_REMINDER_CHARS:
        raise DomainError(
            "invalid_reminder_text", f"A reminder holds 1 to {MAX_REMINDER_CHARS} characters."
        )
    if enrolment.status not in LIVE_ENROLMENT:
        raise Conflict("enrolment_ended", "This enrolment has ended.")
    if not enrolment.arm.reminder_texts:
        raise DomainError("not_in_arm", "This person's arm does not include reminder texts.")
    participant = enrolment.participant
    person = PersonTiming.of(participant)
    schedule = schedule_of(enrolment.programme)
    if local_time.tzinfo is not None:
        raise DomainError(
            "invalid_reminder", "The time is the person's local time, with no offset."
        )
    local_time = local_time.replace(second=0, microsecond=0)
    if any(w.contains(local_time) for w in quiet_windows(schedule, person)):
        raise DomainError(
            "reminder_in_quiet_hours", "That time is inside the person's quiet hours."
        )
    today = now.astimezone(zone(person.time_zone)).date()
    if first_date < today:
        raise DomainError("invalid_reminder_date", "The first date is in the past.")
    if recurrence == Recurrence.ONCE:
        last_date = first_date
    elif last_date is None or not first_date <= last_date <= first_date + dt.timedelta(
        days=MAX_REMINDER_DAYS
    ):
        raise DomainError(
            "invalid_reminder_date",
            f"A recurring reminder needs a last date within {MAX_REMINDER_DAYS} days of the first.",
        )
    reminder = Reminder.objects.create(
        enrolment=enrolment,
        kind=kind,
        body_ciphertext=b"",
        local_time=local_time,
        first_date=first_date,
        recurrence=recurrence,
        last_date=last_date,
        created_by=created_by,
    )
    reminder.body_ciphertext = encrypt(
        data_key=participant.data_key, plaintext=body, ref=reminder_ref(reminder.pk)
    )
    reminder.save(update_fields=["body_ciphertext"])
    row = PendingSend(
        enrolment=enrolment, stream=Stream.REMINDER, reminder=reminder, state=SendState.SCHEDULED
    )
    row.enrolment = enrolment
    _apply(
        row,
        next_send(
            reminder_rules(reminder, schedule, person),
            after=now,
            done=None,
            limit=staleness(schedule),
        ),
    )
    if row.state != SendState.SCHEDULED:
        raise DomainError("invalid_reminder_date", "That reminder would never be sent.")
    row.save()
    record(
        action="reminder.created",
        actor=created_by,
        target=enrolment,
        details={"reminder": reminder.pk, "kind": kind, "recurrence": recurrence},
    )
    return reminder


@transaction.atomic
def cancel_reminder(*, reminder: Reminder, by: User | None) -> Reminder:
    reminder = Reminder.objects.select_for_update().get(pk=reminder.pk)
    if reminder.cancelled_at is not None:
        return reminder
    reminder.cancelled_at = timezone.now()
    reminder.save(update_fields=["cancelled_at"])
    stop_streams(
        enrolment_filter=Q(reminder=reminder),
        reason=StopReason.CANCELLED,
        states=ACTIVE_STATES,
    )
    record(
        action="reminder.cancelled",
        actor=by,
        target=reminder.enrolment,
        details={"reminder": reminder.pk},
    )
    return reminder
