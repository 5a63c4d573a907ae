"""When scheduled texts are due (scheduling/timing.py, issue 7): local times in the person's
IANA zone to UTC, the spring-forward gap and fall-back fold rules, quiet hours, slots and
staleness. Pure functions: no database.

The 2027 transitions used below, worked out by hand and checked against zoneinfo in the
first test: America/Edmonton springs forward on Sunday 14 March (02:00 MST -> 03:00 MDT,
09:00 UTC) and falls back on Sunday 7 November (02:00 MDT -> 01:00 MST, 08:00 UTC);
Europe/London springs forward on Sunday 28 March (01:00 GMT -> 02:00 BST, 01:00 UTC) and
falls back on Sunday 31 October (02:00 BST -> 01:00 GMT, 01:00 UTC).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduling.timing import (
    UTC,
    QuietWindow,
    Slot,
    SlotRules,
    in_quiet_hours,
    next_slot,
    out_of_quiet_hours,
    slot_due,
    stale_after,
    to_utc,
)

EDMONTON = "America/Edmonton"
LONDON = "Europe/London"
ZONES = (
    EDMONTON,
    LONDON,
    "Pacific/Auckland",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
    "America/St_Johns",
)

EVENING_QUIET = QuietWindow(dt.time(21), dt.time(8))
PERSON_QUIET = QuietWindow(dt.time(22), dt.time(7))

PROPERTY = settings(max_examples=200, deadline=None, database=None, derandomize=True)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A naive local wall-clock time."""
    return dt.datetime(year, month, day, hour, minute)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def wall(moment: dt.datetime, tz_name: str) -> dt.datetime:
    """The naive local wall-clock reading of a UTC instant in `tz_name`."""
    return moment.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)


def rules(
    times: tuple[dt.time, ...],
    first: dt.date,
    last: dt.date,
    *,
    tz_name: str = EDMONTON,
    quiet: tuple[QuietWindow, ...] = (),
    step_days: int = 1,
) -> SlotRules:
    return SlotRules(
        tz_name=tz_name,
        times=times,
        first_date=first,
        last_date=last,
        quiet=quiet,
        step_days=step_days,
    )


def run(
    stream: SlotRules, *, after: dt.datetime, count: int, done: tuple[dt.date, int] | None = None
) -> list[Slot]:
    """Up to `count` consecutive slots, each call fed the previous slot as `done` and `after`."""
    slots: list[Slot] = []
    for _ in range(count):
        slot = next_slot(stream, after=after, done=done)
        if slot is None:
            break
        slots.append(slot)
        after, done = slot.due_at, slot.key
    return slots


# --- Independent oracles (zoneinfo only, none of timing.py) -------------------------------


@functools.cache
def transitions(
    tz_name: str, year: int = 2027
) -> tuple[tuple[dt.datetime, dt.timedelta, dt.timedelta], ...]:
    """Each offset change in `year`: (UTC instant, offset before, offset after), to the minute."""
    tz = ZoneInfo(tz_name)
    found = []
    hour = dt.timedelta(hours=1)
    moment = dt.datetime(year, 1, 1, tzinfo=UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=UTC)
    while moment < end:
        before, after = (
            moment.astimezone(tz).utcoffset(),
            (moment + hour).astimezone(tz).utcoffset(),
        )
        assert before is not None and after is not None
        if before != after:
            instant = moment
            while instant.astimezone(tz).utcoffset() == before:
                instant += dt.timedelta(minutes=1)
            found.append((instant, before, after))
        moment += hour
    return tuple(found)


def transition_days(tz_name: str) -> list[dt.date]:
    return [wall(instant, tz_name).date() for instant, _, _ in transitions(tz_name)]


def gaps(tz_name: str) -> list[tuple[dt.datetime, dt.datetime]]:
    """The skipped local wall-clock spans [start, end) of 2027 (clocks springing forward)."""
    return [
        ((instant + before).replace(tzinfo=None), (instant + after).replace(tzinfo=None))
        for instant, before, after in transitions(tz_name)
        if after > before
    ]


def occurrences(local: dt.datetime, tz_name: str) -> list[dt.datetime]:
    """The UTC instants whose wall-clock reading in `tz_name` is `local`, earliest first."""
    tz = ZoneInfo(tz_name)
    found = {
        instant
        for fold in (0, 1)
        if wall(instant := local.replace(tzinfo=tz, fold=fold).astimezone(UTC), tz_name) == local
    }
    return sorted(found)


def first_valid_minute(local: dt.datetime, tz_name: str) -> dt.datetime:
    """For a local time in a gap: the first whole UTC minute whose wall-clock reading is later."""
    tz = ZoneInfo(tz_name)
    moment = min(local.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    moment = moment.replace(second=0, microsecond=0)
    while wall(moment, tz_name) <= local:
        moment += dt.timedelta(minutes=1)
    return moment


def quiet_at(moment: dt.time, window: QuietWindow) -> bool:
    """Whether a local time of day falls in [start, end), wrapping past midnight."""
    start, end = window.start, window.end
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


# --- The 2027 transitions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz_name", "days"),
    [
        (EDMONTON, [dt.date(2027, 3, 14), dt.date(2027, 11, 7)]),
        (LONDON, [dt.date(2027, 3, 28), dt.date(2027, 10, 31)]),
    ],
)
def test_2027_transition_dates_are_the_ones_worked_out_by_hand(
    tz_name: str, days: list[dt.date]
) -> None:
    assert transition_days(tz_name) == days


# --- Local time to UTC ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz_name", "local", "expected"),
    [
        # Edmonton, spring forward on 14 March: MST (UTC-7) before, MDT (UTC-6) after.
        (EDMONTON, at(2027, 3, 13, 10), utc(2027, 3, 13, 17)),
        (EDMONTON, at(2027, 3, 14, 1, 30), utc(2027, 3, 14, 8, 30)),
        (EDMONTON, at(2027, 3, 14, 3, 30), utc(2027, 3, 14, 9, 30)),
        (EDMONTON, at(2027, 3, 15, 10), utc(2027, 3, 15, 16)),
        # Edmonton, fall back on 7 November: MDT before, MST after.
        (EDMONTON, at(2027, 11, 6, 10), utc(2027, 11, 6, 16)),
        (EDMONTON, at(2027, 11, 7, 0, 30), utc(2027, 11, 7, 6, 30)),
        (EDMONTON, at(2027, 11, 7, 2, 30), utc(2027, 11, 7, 9, 30)),
        (EDMONTON, at(2027, 11, 8, 10), utc(2027, 11, 8, 17)),
        # London, spring forward on 28 March: GMT (UTC+0) before, BST (UTC+1) after.
        (LONDON, at(2027, 3, 27, 10), utc(2027, 3, 27, 10)),
        (LONDON, at(2027, 3, 28, 0, 30), utc(2027, 3, 28, 0, 30)),
        (LONDON, at(2027, 3, 28, 2, 30), utc(2027, 3, 28, 1, 30)),
        (LONDON, at(2027, 3, 29, 10), utc(2027, 3, 29, 9)),
        # London, fall back on 31 October: BST before, GMT after.
        (LONDON, at(2027, 10, 30, 10), utc(2027, 10, 30, 9)),
        (LONDON, at(2027, 10, 31, 0, 30), utc(2027, 10, 30, 23, 30)),
        (LONDON, at(2027, 10, 31, 2, 30), utc(2027, 10, 31, 2, 30)),
        (LONDON, at(2027, 11, 1, 10), utc(2027, 11, 1, 10)),
    ],
)
def test_times_either_side_of_a_transition_map_to_their_utc_offset(
    tz_name: str, local: dt.datetime, expected: dt.datetime
) -> None:
    assert to_utc(local, tz_name) == expected


@pytest.mark.parametrize(
    ("tz_name", "local", "expected"),
    [
        # The example: 02:30 on spring-forward day in Edmonton is 03:00 MDT.
        (EDMONTON, at(2027, 3, 14, 2, 30), utc(2027, 3, 14, 9)),
        (EDMONTON, at(2027, 3, 14, 2, 0), utc(2027, 3, 14, 9)),
        (EDMONTON, at(2027, 3, 14, 2, 1), utc(2027, 3, 14, 9)),
        (EDMONTON, at(2027, 3, 14, 2, 10), utc(2027, 3, 14, 9)),
        (EDMONTON, at(2027, 3, 14, 2, 59), utc(2027, 3, 14, 9)),
        # London's gap is 01:00-02:00 GMT: its first valid minute is 02:00 BST, 01:00 UTC.
        (LONDON, at(2027, 3, 28, 1, 30), utc(2027, 3, 28, 1)),
        (LONDON, at(2027, 3, 28, 1, 0), utc(2027, 3, 28, 1)),
        (LONDON, at(2027, 3, 28, 1, 10), utc(2027, 3, 28, 1)),
        (LONDON, at(2027, 3, 28, 1, 59), utc(2027, 3, 28, 1)),
    ],
)
def test_a_time_in_the_spring_forward_gap_moves_to_the_first_valid_minute(
    tz_name: str, local: dt.datetime, expected: dt.datetime
) -> None:
    assert to_utc(local, tz_name) == expected


@pytest.mark.parametrize(
    ("tz_name", "local", "expected"),
    [
        # The example: 01:30 on fall-back day in Edmonton is 01:30 MDT.
        (EDMONTON, at(2027, 11, 7, 1, 30), utc(2027, 11, 7, 7, 30)),
        (EDMONTON, at(2027, 11, 7, 1, 0), utc(2027, 11, 7, 7)),
        (EDMONTON, at(2027, 11, 7, 1, 59), utc(2027, 11, 7, 7, 59)),
        # London's repeated hour is 01:00-02:00; its first pass is BST.
        (LONDON, at(2027, 10, 31, 1, 30), utc(2027, 10, 31, 0, 30)),
        (LONDON, at(2027, 10, 31, 1, 0), utc(2027, 10, 31, 0)),
    ],
)
def test_an_ambiguous_fall_back_time_takes_its_first_occurrence(
    tz_name: str, local: dt.datetime, expected: dt.datetime
) -> None:
    assert to_utc(local, tz_name) == expected


@pytest.mark.parametrize(
    ("tz_name", "first", "change", "hour_before", "hour_after"),
    [
        (EDMONTON, dt.date(2027, 3, 11), dt.date(2027, 3, 14), 17, 16),
        (EDMONTON, dt.date(2027, 11, 4), dt.date(2027, 11, 7), 16, 17),
        (LONDON, dt.date(2027, 3, 25), dt.date(2027, 3, 28), 10, 9),
        (LONDON, dt.date(2027, 10, 28), dt.date(2027, 10, 31), 9, 10),
    ],
)
def test_a_daily_10_00_send_stays_at_10_00_local_across_a_transition(
    tz_name: str, first: dt.date, change: dt.date, hour_before: int, hour_after: int
) -> None:
    stream = rules((dt.time(10),), first, first + dt.timedelta(days=6), tz_name=tz_name)
    slots = run(stream, after=utc(2027, 1, 1), count=10)
    assert [s.local_date for s in slots] == [first + dt.timedelta(days=n) for n in range(7)]
    assert all(wall(s.due_at, tz_name).time() == dt.time(10) for s in slots)
    assert [s.due_at.hour for s in slots] == [
        hour_before if s.local_date < change else hour_after for s in slots
    ]


def test_a_daily_send_time_inside_the_gap_shifts_only_on_the_transition_day() -> None:
    stream = rules((dt.time(2, 30),), dt.date(2027, 3, 12), dt.date(2027, 3, 16))
    slots = run(stream, after=utc(2027, 3, 1), count=10)
    assert [s.due_at for s in slots] == [
        utc(2027, 3, 12, 9, 30),
        utc(2027, 3, 13, 9, 30),
        utc(2027, 3, 14, 9),
        utc(2027, 3, 15, 8, 30),
        utc(2027, 3, 16, 8, 30),
    ]
    assert [wall(s.due_at, EDMONTON).time() for s in slots] == [
        dt.time(2, 30),
        dt.time(2, 30),
        dt.time(3),
        dt.time(2, 30),
        dt.time(2, 30),
    ]


def test_a_gap_time_moved_into_quiet_hours_moves_on_to_their_end() -> None:
    # 02:30 does not exist on 14 March and becomes 03:00 MDT, which is inside 03:00-04:00:
    # by the quiet-hours rule it then moves to 04:00 MDT (10:00 UTC).
    quiet = (QuietWindow(dt.time(3), dt.time(4)),)
    stream = rules((dt.time(2, 30),), dt.date(2027, 3, 14), dt.date(2027, 3, 14), quiet=quiet)
    slot = next_slot(stream, after=utc(2027, 3, 1))
    assert slot is not None
    assert not in_quiet_hours(slot.due_at, EDMONTON, quiet)
    assert slot.due_at == utc(2027, 3, 14, 10)


# --- Quiet windows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (dt.time(21), True),
        (dt.time(23, 59), True),
        (dt.time(0), True),
        (dt.time(7, 59), True),
        (dt.time(8), False),
        (dt.time(12), False),
        (dt.time(20, 59), False),
    ],
)
def test_a_window_wrapping_midnight_holds_the_night_and_not_its_end(
    moment: dt.time, inside: bool
) -> None:
    assert EVENING_QUIET.contains(moment) is inside


@pytest.mark.parametrize(
    ("moment", "inside"),
    [(dt.time(12, 59), False), (dt.time(13), True), (dt.time(13, 59), True), (dt.time(14), False)],
)
def test_a_window_within_one_day_holds_start_up_to_end(moment: dt.time, inside: bool) -> None:
    assert QuietWindow(dt.time(13), dt.time(14)).contains(moment) is inside


@pytest.mark.parametrize("moment", [dt.time(0), dt.time(9), dt.time(9, 1), dt.time(23, 59)])
def test_a_window_whose_start_equals_its_end_holds_nothing(moment: dt.time) -> None:
    window = QuietWindow(dt.time(9), dt.time(9))
    assert not window.contains(moment)
    local = dt.datetime.combine(dt.date(2027, 5, 1), moment)
    assert out_of_quiet_hours(local, (window,)) == local


def test_end_after_a_morning_time_is_the_same_day() -> None:
    assert EVENING_QUIET.end_after(at(2027, 5, 2, 6)) == at(2027, 5, 2, 8)


def test_end_after_an_evening_time_is_the_next_day() -> None:
    assert EVENING_QUIET.end_after(at(2027, 5, 1, 22)) == at(2027, 5, 2, 8)


def test_a_time_outside_quiet_hours_is_left_alone() -> None:
    assert out_of_quiet_hours(at(2027, 5, 1, 12), (PERSON_QUIET, EVENING_QUIET)) == at(
        2027, 5, 1, 12
    )


@pytest.mark.parametrize(
    "local",
    [at(2027, 5, 1, 21, 30), at(2027, 5, 1, 23), at(2027, 5, 2, 6, 30), at(2027, 5, 2, 7, 30)],
)
def test_overlapping_person_and_programme_windows_end_at_the_later_end(
    local: dt.datetime,
) -> None:
    # Person 22:00-07:00, programme 21:00-08:00: nothing goes before 08:00.
    assert out_of_quiet_hours(local, (PERSON_QUIET, EVENING_QUIET)) == at(2027, 5, 2, 8)


def test_chained_windows_are_left_one_after_the_other() -> None:
    # 23:00 ends the person's window at 07:00, which is inside the programme's 06:30-09:00.
    windows = (PERSON_QUIET, QuietWindow(dt.time(6, 30), dt.time(9)))
    assert out_of_quiet_hours(at(2027, 5, 1, 23), windows) == at(2027, 5, 2, 9)


# --- next_slot -----------------------------------------------------------------------------


def test_next_slot_waits_for_a_first_date_in_the_future() -> None:
    stream = rules((dt.time(10),), dt.date(2027, 5, 10), dt.date(2027, 5, 20))
    slot = next_slot(stream, after=utc(2027, 5, 1, 12))
    assert slot == Slot(dt.date(2027, 5, 10), 0, utc(2027, 5, 10, 16))


def test_next_slot_returns_two_daily_send_times_in_order() -> None:
    stream = rules((dt.time(9, 30), dt.time(18)), dt.date(2027, 5, 1), dt.date(2027, 5, 2))
    slots = run(stream, after=utc(2027, 4, 1), count=10)
    assert [(s.key, s.due_at) for s in slots] == [
        ((dt.date(2027, 5, 1), 0), utc(2027, 5, 1, 15, 30)),
        ((dt.date(2027, 5, 1), 1), utc(2027, 5, 2, 0)),
        ((dt.date(2027, 5, 2), 0), utc(2027, 5, 2, 15, 30)),
        ((dt.date(2027, 5, 2), 1), utc(2027, 5, 3, 0)),
    ]


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        ((dt.date(2027, 5, 1), 0), (dt.date(2027, 5, 1), 1)),
        ((dt.date(2027, 5, 1), 1), (dt.date(2027, 5, 2), 0)),
        ((dt.date(2027, 5, 2), 0), (dt.date(2027, 5, 2), 1)),
    ],
)
def test_next_slot_never_hands_out_a_slot_at_or_before_done(
    done: tuple[dt.date, int], expected: tuple[dt.date, int]
) -> None:
    # `after` is long before all of them: only `done` keeps the earlier slots out.
    stream = rules((dt.time(9, 30), dt.time(18)), dt.date(2027, 5, 1), dt.date(2027, 5, 3))
    slot = next_slot(stream, after=utc(2027, 4, 1), done=done)
    assert slot is not None
    assert slot.key == expected


def test_next_slot_never_returns_a_due_time_at_or_before_after() -> None:
    stream = rules((dt.time(10),), dt.date(2027, 5, 1), dt.date(2027, 5, 3))
    slot = next_slot(stream, after=utc(2027, 5, 1, 16))  # exactly the first slot's due time
    assert slot is not None
    assert slot.key == (dt.date(2027, 5, 2), 0)


def test_next_slot_is_none_past_the_last_date() -> None:
    stream = rules((dt.time(10),), dt.date(2027, 5, 1), dt.date(2027, 5, 3))
    assert next_slot(stream, after=utc(2027, 5, 3, 16)) is None
    assert next_slot(stream, after=utc(2027, 4, 1), done=(dt.date(2027, 5, 3), 0)) is None


def test_next_slot_of_no_send_times_is_none() -> None:
    stream = rules((), dt.date(2027, 5, 1), dt.date(2027, 5, 3))
    assert next_slot(stream, after=utc(2027, 4, 1)) is None


def test_a_weekly_stream_falls_only_on_the_first_dates_weekday() -> None:
    first = dt.date(2027, 6, 7)  # a Monday
    stream = rules((dt.time(10),), first, dt.date(2027, 7, 31), step_days=7)
    # From a Wednesday: the next Monday, then every Monday to the end of July.
    slots = run(stream, after=utc(2027, 6, 9, 12), count=20)
    assert [s.local_date for s in slots] == [
        dt.date(2027, 6, 14),
        dt.date(2027, 6, 21),
        dt.date(2027, 6, 28),
        dt.date(2027, 7, 5),
        dt.date(2027, 7, 12),
        dt.date(2027, 7, 19),
        dt.date(2027, 7, 26),
    ]
    assert {wall(s.due_at, EDMONTON).strftime("%A %H:%M") for s in slots} == {"Monday 10:00"}


def test_an_evening_slot_in_quiet_hours_becomes_the_next_mornings_end_of_quiet() -> None:
    stream = rules((dt.time(22),), dt.date(2027, 5, 1), dt.date(2027, 5, 3), quiet=(EVENING_QUIET,))
    slot = next_slot(stream, after=utc(2027, 4, 1))
    assert slot == Slot(dt.date(2027, 5, 1), 0, utc(2027, 5, 2, 14))
    assert wall(slot.due_at, EDMONTON) == at(2027, 5, 2, 8)


def test_yesterdays_pushed_evening_slot_is_still_handed_out_this_morning() -> None:
    stream = rules((dt.time(22),), dt.date(2027, 5, 1), dt.date(2027, 5, 3), quiet=(EVENING_QUIET,))
    slot = next_slot(stream, after=utc(2027, 5, 2, 13))  # 07:00 local on 2 May
    assert slot is not None
    assert slot.key == (dt.date(2027, 5, 1), 0)
    assert wall(slot.due_at, EDMONTON) == at(2027, 5, 2, 8)


# --- stale_after ---------------------------------------------------------------------------


def test_stale_after_is_the_staleness_limit_when_quiet_hours_are_further() -> None:
    due = to_utc(at(2027, 5, 1, 10), EDMONTON)
    stale = stale_after(due, limit=dt.timedelta(hours=3), tz_name=EDMONTON, quiet=(EVENING_QUIET,))
    assert wall(stale, EDMONTON) == at(2027, 5, 1, 13)


def test_stale_after_is_the_next_quiet_start_when_it_comes_first() -> None:
    due = to_utc(at(2027, 5, 1, 19, 30), EDMONTON)
    stale = stale_after(due, limit=dt.timedelta(hours=3), tz_name=EDMONTON, quiet=(EVENING_QUIET,))
    assert stale == utc(2027, 5, 2, 3)
    assert wall(stale, EDMONTON) == at(2027, 5, 1, 21)


def test_stale_after_ignores_a_window_whose_start_equals_its_end() -> None:
    due = to_utc(at(2027, 5, 1, 19, 30), EDMONTON)
    quiet = (QuietWindow(dt.time(20), dt.time(20)),)
    stale = stale_after(due, limit=dt.timedelta(hours=3), tz_name=EDMONTON, quiet=quiet)
    assert stale == due + dt.timedelta(hours=3)


def test_stale_after_takes_the_earliest_of_two_quiet_starts() -> None:
    due = to_utc(at(2027, 5, 1, 19, 30), EDMONTON)
    stale = stale_after(
        due, limit=dt.timedelta(hours=5), tz_name=EDMONTON, quiet=(PERSON_QUIET, EVENING_QUIET)
    )
    assert wall(stale, EDMONTON) == at(2027, 5, 1, 21)


# --- Properties ----------------------------------------------------------------------------

YEAR_START = utc(2027, 1, 1)
MINUTES_IN_2027 = 365 * 24 * 60

# Whole and half hours are where transitions and real settings sit; any minute otherwise.
minute_of_day = st.one_of(
    st.integers(0, 24 * 60 - 1), st.sampled_from([m for m in range(0, 24 * 60, 30)])
)
times_of_day = minute_of_day.map(lambda m: dt.time(m // 60, m % 60))
zones = st.sampled_from(ZONES)


@st.composite
def instants(draw: st.DrawFn, tz_name: str) -> dt.datetime:
    """An instant in 2027, often within a couple of days of one of `tz_name`'s transitions."""
    near = transitions(tz_name)
    if near and draw(st.booleans()):
        instant, _, _ = draw(st.sampled_from(near))
        return instant + dt.timedelta(minutes=draw(st.integers(-3 * 24 * 60, 2 * 24 * 60)))
    return YEAR_START + dt.timedelta(minutes=draw(st.integers(0, MINUTES_IN_2027 - 1)))


def leaves_some_time_free(windows: tuple[QuietWindow, ...]) -> bool:
    return any(
        not any(quiet_at(dt.time(m // 60, m % 60), w) for w in windows) for m in range(24 * 60)
    )


@st.composite
def streams(draw: st.DrawFn) -> tuple[SlotRules, dt.datetime]:
    """Slot rules in a random zone, and an `after` instant near or inside their dates."""
    tz_name = draw(zones)
    after = draw(instants(tz_name))
    times = tuple(sorted(draw(st.sets(times_of_day, min_size=1, max_size=2))))
    quiet = tuple(
        QuietWindow(start, end)
        for start, end in draw(st.lists(st.tuples(times_of_day, times_of_day), max_size=2))
    )
    assume(leaves_some_time_free(quiet))
    today = wall(after, tz_name).date()
    first = today + dt.timedelta(days=draw(st.integers(-20, 3)))
    last = max(first, today) + dt.timedelta(days=draw(st.integers(0, 40)))
    step = draw(st.sampled_from([1, 1, 7]))
    return rules(times, first, last, tz_name=tz_name, quiet=quiet, step_days=step), after


def brute_force_next(
    stream: SlotRules, *, after: dt.datetime, done: tuple[dt.date, int] | None
) -> Slot | None:
    """Every slot of the stream in order: the first later than `done` and due after `after`."""
    day = stream.first_date
    while day <= stream.last_date:
        for index in range(len(stream.times)):
            if done is not None and (day, index) <= done:
                continue
            due = slot_due(stream, day, index)
            if due > after:
                return Slot(day, index, due)
        day += dt.timedelta(days=stream.step_days)
    return None


@PROPERTY
@given(case=streams())
def test_any_next_slot_is_due_after_after_and_outside_quiet_hours(
    case: tuple[SlotRules, dt.datetime],
) -> None:
    stream, after = case
    slot = next_slot(stream, after=after)
    if slot is not None:
        assert slot.due_at > after
        local = wall(slot.due_at, stream.tz_name).time()
        assert not any(quiet_at(local, w) for w in stream.quiet), (slot, local)


@PROPERTY
@given(case=streams())
def test_consecutive_next_slots_advance_and_never_land_in_quiet_hours(
    case: tuple[SlotRules, dt.datetime],
) -> None:
    stream, after = case
    slots = run(stream, after=after, count=8)
    for previous, current in itertools.pairwise(slots):
        assert current.key > previous.key
        assert current.due_at >= previous.due_at
    for slot in slots:
        assert slot.due_at > after
        assert stream.first_date <= slot.local_date <= stream.last_date
        assert (slot.local_date - stream.first_date).days % stream.step_days == 0
        local = wall(slot.due_at, stream.tz_name).time()
        assert not any(quiet_at(local, w) for w in stream.quiet), (slot, local)


@PROPERTY
@given(case=streams(), data=st.data())
def test_next_slot_is_the_first_eligible_slot_of_the_whole_stream(
    case: tuple[SlotRules, dt.datetime], data: st.DataObject
) -> None:
    stream, after = case
    done = None
    if data.draw(st.booleans()):
        day = stream.first_date + dt.timedelta(days=data.draw(st.integers(-2, 45)))
        done = (day, data.draw(st.integers(0, len(stream.times) - 1)))
    assert next_slot(stream, after=after, done=done) == brute_force_next(
        stream, after=after, done=done
    )


@PROPERTY
@given(tz_name=zones, data=st.data())
def test_any_existing_local_time_round_trips_through_to_utc(
    tz_name: str, data: st.DataObject
) -> None:
    local = wall(data.draw(instants(tz_name)), tz_name)
    seen = occurrences(local, tz_name)
    assert seen  # the wall reading of a real instant exists
    moment = to_utc(local, tz_name)
    assert wall(moment, tz_name) == local
    assert moment == seen[0]  # the first occurrence when the clocks fall back


@PROPERTY
@given(data=st.data())
def test_any_time_in_a_gap_moves_to_the_first_valid_minute(data: st.DataObject) -> None:
    tz_name = data.draw(st.sampled_from([z for z in ZONES if gaps(z)]))
    start, end = data.draw(st.sampled_from(gaps(tz_name)))
    span = int((end - start) / dt.timedelta(minutes=1))
    local = start + dt.timedelta(minutes=data.draw(st.integers(0, span - 1)))
    assert not occurrences(local, tz_name)
    assert to_utc(local, tz_name) == first_valid_minute(local, tz_name)
