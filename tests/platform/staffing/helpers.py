"""Helpers for the availability tests. Nothing here prints names or phone numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from people.models import User
from programmes.models import PeerSupporterProfile
from staffing.services import set_working_hours

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def utc(text: str) -> dt.datetime:
    """An instant written in UTC, e.g. "2026-03-08T15:00"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def hours(days: tuple[str, ...] | str, start: str, end: str) -> dict[str, list[str]]:
    names = (days,) if isinstance(days, str) else days
    return {day: [start, end] for day in names}


def with_hours(user: User, working_hours: dict[str, Any], time_zone: str) -> PeerSupporterProfile:
    return set_working_hours(
        user=user, working_hours=working_hours, time_zone=time_zone, changed_by=None
    )
