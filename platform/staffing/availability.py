"""Who is on duty when: peer supporters by their working hours and leave, supervisors by the
on-call rota. Reads only; times are compared in UTC and computed in each person's own IANA
time zone with `zoneinfo`, so that DST changes move working hours with the wall clock.

Working hours are `{"mon": ["09:00", "17:00"], ...}` in the profile's time zone; a window
whose end is not after its start runs past midnight into the next day ("22:00"-"06:00"), and
"24:00" ends a window at midnight. Days absent are days off.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone

from people.models import User
from programmes.models import PeerSupporterProfile, Programme
from staffing.models import Leave, OnCallShift

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead `next_on_duty` looks: beyond this, "we'll reply when we're back" is all we say.
LOOKAHEAD_DAYS = 28


@dataclass(frozen=True)
class Window:
    starts_at: dt.datetime
    ends_at: dt.datetime


# ASCII digits only: int() alone would also take " 9", "+9", "-0" and other scripts' digits.
_CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})")


def parse_clock(value: str) -> tuple[int, int]:
    """'HH:MM' (00:00 to 24:00) as (hours, minutes); ValueError otherwise."""
    match = _CLOCK.fullmatch(value)
    if match is None:
        raise ValueError("not a clock time")
    hours, minutes = int(match[1]), int(match[2])
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError("not a clock time")
    return hours, minutes


def _local(day: dt.date, clock: tuple[int, int], zone: ZoneInfo) -> dt.datetime:
    hours, minutes = clock
    if hours == 24:
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0), tzinfo=zone)
    # A wall time that does not exist (spring forward) resolves with the offset before the
    # change, i.e. as many minutes after the gap as it was into it; an ambiguous one (fall
    # back) takes its first occurrence (fold=0).
    return dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=zone)


def working_windows(
    hours: dict[str, Sequence[str]], time_zone: str, *, first_day: dt.date, days: int
) -> Iterator[Window]:
    """The working windows that start on each local date from `first_day`, in order, in UTC."""
    zone = ZoneInfo(time_zone)
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        span = hours.get(WEEKDAYS[day.weekday()])
        if not span:
            continue
        start_clock, end_clock = parse_clock(span[0]), parse_clock(span[1])
        start = _local(day, start_clock, zone)
        end_day = day if end_clock > start_clock else day + dt.timedelta(days=1)
        end = _local(end_day, end_clock, zone)
        yield Window(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def _profile(user: User) -> PeerSupporterProfile | None:
    return PeerSupporterProfile.objects.filter(user=user).first()


def _leaves(user: User, start: dt.datetime, end: dt.datetime) -> list[Leave]:
    return list(
        Leave.objects.filter(user=user, starts_at__lt=end, ends_at__gt=start).order_by("starts_at")
    )


def on_leave(user: User, at: dt.datetime | None = None) -> bool:
    at = at or timezone.now()
    return Leave.objects.filter(user=user, starts_at__lte=at, ends_at__gt=at).exists()


def within_working_hours(profile: PeerSupporterProfile, at: dt.datetime) -> bool:
    local_day = at.astimezone(ZoneInfo(profile.time_zone)).date()
    # Yesterday's window may run past midnight into today.
    windows = working_windows(
        profile.working_hours,
        profile.time_zone,
        first_day=local_day - dt.timedelta(days=1),
        days=2,
    )
    return any(w.starts_at <= at < w.ends_at for w in windows)


def peer_on_duty(user: User, at: dt.datetime | None = None) -> bool:
    """Within working hours and not on leave. Someone without a profile is never on duty."""
    at = at or timezone.now()
    profile = _profile(user)
    return profile is not None and within_working_hours(profile, at) and not on_leave(user, at)


def on_duty_peer_ids(
    profiles: Iterable[PeerSupporterProfile], at: dt.datetime | None = None
) -> set[int]:
    """`peer_on_duty` for many peer supporters at once: the user ids among these profiles
    within working hours at `at` and not on leave, with one query for all their leave."""
    at = at or timezone.now()
    working = {profile.user_id for profile in profiles if within_working_hours(profile, at)}
    if not working:
        return set()
    away = Leave.objects.filter(user_id__in=working, starts_at__lte=at, ends_at__gt=at)
    return working - set(away.values_list("user_id", flat=True))


def next_on_duty(user: User, after: dt.datetime | None = None) -> dt.datetime | None:
    """When this peer supporter is next on duty (`after` itself when they are now), or None
    when no working time falls in the next LOOKAHEAD_DAYS days."""
    after = after or timezone.now()
    profile = _profile(user)
    if profile is None:
        return None
    local_day = after.astimezone(ZoneInfo(profile.time_zone)).date()
    windows = list(
        working_windows(
            profile.working_hours,
            profile.time_zone,
            first_day=local_day - dt.timedelta(days=1),
            days=LOOKAHEAD_DAYS + 1,
        )
    )
    if not windows:
        return None
    leaves = _leaves(user, after, windows[-1].ends_at)
    for window in windows:
        start = max(window.starts_at, after)
        for leave in leaves:
            if leave.starts_at <= start < leave.ends_at:
                start = leave.ends_at
        if start < window.ends_at:
            return start
    return None


def shifts_at(programme: Programme, at: dt.datetime | None = None) -> QuerySet[OnCallShift]:
    at = at or timezone.now()
    return OnCallShift.objects.filter(
        programme=programme, starts_at__lte=at, ends_at__gt=at
    ).select_related("supervisor")


def on_duty_supervisor_ids(programme: Programme, at: dt.datetime | None = None) -> set[int]:
    """Supervisors on the programme's rota now, at any level, and not on leave."""
    at = at or timezone.now()
    ids = set(shifts_at(programme, at).values_list("supervisor_id", flat=True))
    on_leave_now = Leave.objects.filter(
        user_id__in=ids, starts_at__lte=at, ends_at__gt=at
    ).values_list("user_id", flat=True)
    return ids - set(on_leave_now)


def on_call_at_level(programme: Programme, level: int, at: dt.datetime | None = None) -> list[User]:
    """The supervisors on call at one escalation level now (not on leave), longest-serving
    shift first."""
    at = at or timezone.now()
    available = on_duty_supervisor_ids(programme, at)
    shifts = shifts_at(programme, at).filter(level=level).order_by("starts_at", "pk")
    return [shift.supervisor for shift in shifts if shift.supervisor_id in available]


def escalation_levels(programme: Programme, at: dt.datetime | None = None) -> list[int]:
    """The rota's levels with someone on call now (not on leave), lowest first."""
    at = at or timezone.now()
    available = on_duty_supervisor_ids(programme, at)
    levels = shifts_at(programme, at).filter(supervisor_id__in=available)
    return sorted(set(levels.values_list("level", flat=True)))
