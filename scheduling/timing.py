"""When a scheduled text is due: local wall-clock times in the person's IANA time zone, to UTC.

Pure functions, no database. Written here rather than taken from a library because the rules
are ours (DESIGN.md §3, data flow 4; issue 7): a local time that does not exist (the clocks
spring forward over it) moves to the first valid minute after the gap; an ambiguous one (the
clocks fall back over it) takes its first occurrence; a time inside quiet hours moves to the
end of the quiet window. `zoneinfo` gives the offsets; these say what to do with them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)


@functools.lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def exists(local: dt.datetime, tz: ZoneInfo) -> bool:
    """Whether a naive wall-clock time happens at all in `tz` (not inside a spring-forward gap)."""
    aware = local.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


@functools.lru_cache(maxsize=65_536)
def _to_utc(local: dt.datetime, tz_name: str) -> dt.datetime:
    tz = zone(tz_name)
    if exists(local, tz):
        # fold=0: the first of two occurrences when the clocks fall back.
        return local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # In a gap, fold=1 reads the time with the offset after the transition and fold=0 with
    # the one before; the transition instant lies between them, found by halving over whole
    # seconds. The first valid minute is the transition, or the minute after it when (in old
    # tzdata) it falls inside a minute.
    low = int(local.replace(tzinfo=tz, fold=1).timestamp())
    high = int(local.replace(tzinfo=tz, fold=0).timestamp())
    if low > high:
        low, high = high, low
    before = dt.datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return dt.datetime.fromtimestamp(high + (-high % 60), UTC)


def to_utc(local: dt.datetime, tz_name: str) -> dt.datetime:
    """The UTC instant of a naive local time in `tz_name`, by the gap and fold rules above."""
    return _to_utc(local.replace(tzinfo=None), tz_name)


@dataclass(frozen=True)
class QuietWindow:
    """Local times from `start` up to (not including) `end`; it may wrap past midnight
    (21:00-08:00). start == end means no quiet hours."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def end_after(self, local: dt.datetime) -> dt.datetime:
        """The end of this window for a local time inside it (the same day or the next)."""
        end = dt.datetime.combine(local.date(), self.end)
        return end if end > local else end + dt.timedelta(days=1)

    def next_start(self, local: dt.datetime) -> dt.datetime:
        """The next local time, after `local`, at which this window begins."""
        start = dt.datetime.combine(local.date(), self.start)
        return start if start > local else start + dt.timedelta(days=1)


def out_of_quiet_hours(local: dt.datetime, windows: Sequence[QuietWindow]) -> dt.datetime:
    """`local`, or the first minute after the quiet windows that hold it."""
    for _ in range(len(windows) + 1):
        holding = [w for w in windows if w.contains(local.time())]
        if not holding:
            return local
        local = max(w.end_after(local) for w in holding)
    return local


def in_quiet_hours(moment: dt.datetime, tz_name: str, windows: Sequence[QuietWindow]) -> bool:
    local = moment.astimezone(zone(tz_name)).time()
    return any(w.contains(local) for w in windows)


@dataclass(frozen=True)
class SlotRules:
    """Where a stream's sends fall: from `first_date` to `last_date` (local, inclusive) every
    `step_days`, at each of `times`, in `tz_name`, away from `quiet`."""

    tz_name: str
    times: tuple[dt.time, ...]
    first_date: dt.date
    last_date: dt.date
    quiet: tuple[QuietWindow, ...] = ()
    step_days: int = 1


@dataclass(frozen=True)
class Slot:
    local_date: dt.date
    index: int
    due_at: dt.datetime  # UTC

    @property
    def key(self) -> tuple[dt.date, int]:
        return (self.local_date, self.index)


def slot_due(rules: SlotRules, local_date: dt.date, index: int) -> dt.datetime:
    wall = dt.datetime.combine(local_date, rules.times[index])
    # Out of quiet hours, then out of a DST gap; the gap's end may itself be quiet.
    for _ in range(3):
        wall = out_of_quiet_hours(wall, rules.quiet)
        due = to_utc(wall, rules.tz_name)
        actual = due.astimezone(zone(rules.tz_name)).replace(tzinfo=None)
        if actual == wall or not any(w.contains(actual.time()) for w in rules.quiet):
            return due
        wall = actual
    return due


def next_slot(
    rules: SlotRules, *, after: dt.datetime, done: tuple[dt.date, int] | None = None
) -> Slot | None:
    """The first slot due after the instant `after` and later than the slot `done` (the last
    one handled, so that a change of time zone never hands out a slot twice). None once the
    stream has run past `last_date`."""
    if not rules.times:
        return None
    local_today = after.astimezone(zone(rules.tz_name)).date()
    # A day back: quiet hours can push yesterday's evening slot into this morning.
    start = max(rules.first_date, local_today - dt.timedelta(days=1))
    if done is not None:
        start = max(start, done[0])
    offset = (start - rules.first_date).days % rules.step_days
    if offset:
        start += dt.timedelta(days=rules.step_days - offset)
    day = start
    while day <= rules.last_date:
        for index in range(len(rules.times)):
            if done is not None and (day, index) <= done:
                continue
            due = slot_due(rules, day, index)
            if due > after:
                return Slot(day, index, due)
        day += dt.timedelta(days=rules.step_days)
    return None


def stale_after(
    due_at: dt.datetime, *, limit: dt.timedelta, tz_name: str, quiet: Sequence[QuietWindow]
) -> dt.datetime:
    """The instant after which a send is too late to go: its staleness limit, or the start
    of the next quiet hours, whichever comes first (no text at night, however late)."""
    latest = due_at + limit
    local = due_at.astimezone(zone(tz_name)).replace(tzinfo=None)
    for window in quiet:
        if window.start != window.end:
            latest = min(latest, to_utc(window.next_start(local), tz_name))
    return latest
