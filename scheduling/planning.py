"""From database rows to slot rules (timing.py), and the next send of a pending row.

Reads only: services.py and dispatch.py write what these compute."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from people.models import Participant
from scheduling.models import PendingSend, ProgrammeSchedule, Recurrence, Reminder
from scheduling.timing import QuietWindow, Slot, SlotRules, next_slot, stale_after, zone

REMINDER_STALENESS = dt.timedelta(hours=3)
HH_MM = re.compile(r"[0-2][0-9]:[0-5][0-9]")
STEP_DAYS = {Recurrence.ONCE: 1, Recurrence.DAILY: 1, Recurrence.WEEKLY: 7}


def parse_send_times(values: object) -> tuple[dt.time, ...]:
    """A schedule's send times ("HH:MM", one or two, distinct), in order. ValueError if not."""
    if not isinstance(values, list) or not 1 <= len(values) <= 2:
        raise ValueError('Give one or two send times, e.g. ["10:00"] or ["09:30", "18:00"].')
    times = []
    for value in values:
        if not isinstance(value, str) or not HH_MM.fullmatch(value):
            raise ValueError(f"{value!r} is not a local time of day in HH:MM form.")
        try:
            times.append(dt.time.fromisoformat(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a local time of day in HH:MM form.") from None
    if len(set(times)) != len(times):
        raise ValueError("The two send times must differ.")
    return tuple(sorted(times))


@dataclass(frozen=True)
class PersonTiming:
    """What of a person the schedule reads: where they are and when they want no texts."""

    time_zone: str
    quiet_start: dt.time
    quiet_end: dt.time

    @classmethod
    def of(cls, participant: Participant) -> PersonTiming:
        return cls(
            participant.time_zone, participant.quiet_hours_start, participant.quiet_hours_end
        )


def quiet_windows(
    schedule: ProgrammeSchedule | None, person: PersonTiming
) -> tuple[QuietWindow, ...]:
    windows = [QuietWindow(person.quiet_start, person.quiet_end)]
    if schedule is not None:
        windows.append(QuietWindow(schedule.quiet_hours_start, schedule.quiet_hours_end))
    return tuple(w for w in windows if w.start != w.end)


def supportive_rules(
    schedule: ProgrammeSchedule, *, enrolled_at: dt.datetime, person: PersonTiming
) -> SlotRules:
    first = enrolled_at.astimezone(zone(person.time_zone)).date() + dt.timedelta(
        days=schedule.start_offset_days
    )
    return SlotRules(
        tz_name=person.time_zone,
        times=parse_send_times(schedule.send_times),
        first_date=first,
        last_date=first + dt.timedelta(days=max(schedule.duration_days, 1) - 1),
        quiet=quiet_windows(schedule, person),
    )


def reminder_rules(
    reminder: Reminder, schedule: ProgrammeSchedule | None, person: PersonTiming
) -> SlotRules:
    return SlotRules(
        tz_name=person.time_zone,
        times=(reminder.local_time,),
        first_date=reminder.first_date,
        last_date=reminder.first_date
        if reminder.recurrence == Recurrence.ONCE
        else reminder.last_date,
        quiet=quiet_windows(schedule, person),
        step_days=STEP_DAYS[Recurrence(reminder.recurrence)],
    )


def staleness(schedule: ProgrammeSchedule | None) -> dt.timedelta:
    """How late a send may still go. Reminders of a programme without a text schedule take
    the default of three hours."""
    if schedule is None:
        return REMINDER_STALENESS
    return dt.timedelta(minutes=schedule.staleness_minutes)


@dataclass(frozen=True)
class NextSend:
    slot: Slot
    stale_at: dt.datetime


def next_send(
    rules: SlotRules, *, after: dt.datetime, done: tuple[dt.date, int] | None, limit: dt.timedelta
) -> NextSend | None:
    slot = next_slot(rules, after=after, done=done)
    if slot is None:
        return None
    return NextSend(
        slot, stale_after(slot.due_at, limit=limit, tz_name=rules.tz_name, quiet=rules.quiet)
    )


def done_key(row: PendingSend) -> tuple[dt.date, int] | None:
    if row.done_date is None or row.done_index is None:
        return None
    return (row.done_date, row.done_index)
