"""Reads for outcome measurement (HackSoft style): instruments, sessions, completion."""

from __future__ import annotations

import datetime as dt
import functools
import statistics
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from outcomes.instrument_format import InstrumentSpec, parse_instrument
from outcomes.models import (
    OPEN_STATES,
    Instrument,
    SessionState,
    SurveyChannel,
    SurveySession,
)
from programmes.models import Programme


@functools.lru_cache(maxsize=64)
def _parsed(instrument_id: int, content_hash: str) -> InstrumentSpec:
    # Keyed by the content too: a stored version never changes, but a test database reuses ids.
    return parse_instrument(Instrument.objects.get(pk=instrument_id).definition)


def spec_of(instrument: Instrument) -> InstrumentSpec:
    """The parsed definition of a stored instrument version (parsed once per process)."""
    return _parsed(instrument.pk, instrument.content_hash)


def newest_instrument(slug: str) -> Instrument | None:
    """The version a new session asks: the newest stored (versions compare as numbers where
    they are numbers, "10" after "9")."""
    versions = list(Instrument.objects.filter(slug=slug))

    def order(instrument: Instrument) -> tuple[Any, ...]:
        return tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in instrument.version.split(".")
        )

    return max(versions, key=order, default=None)


def open_sms_session(participant_id: uuid.UUID, *, now: dt.datetime) -> SurveySession | None:
    """The SMS session waiting for this person's answer, locked: at most one is open at a
    time (the dispatcher invites the next only when it ends)."""
    return (
        SurveySession.objects.select_for_update(of=("self",))
        .select_related("instrument", "enrolment__programme", "timepoint__schedule")
        .filter(
            enrolment__participant_id=participant_id,
            channel=SurveyChannel.SMS,
            state__in=OPEN_STATES,
            closes_at__gt=now,
        )
        .order_by("-last_activity_at", "-invited_at")
        .first()
    )


def answers_of(session: SurveySession) -> dict[str, int]:
    return dict(session.answers.values_list("item_key", "value"))


@dataclass(frozen=True)
class CompletionRow:
    """Completion of one timepoint in one arm (DESIGN.md §1: the evaluation's denominator)."""

    timepoint: str
    arm: str
    instrument: str
    sessions: int
    sent: int
    started: int
    completed: int
    expired: int
    reminders_sent: int
    median_hours_to_complete: float | None


def completion_metrics(programme: Programme, *, by_arm: bool = True) -> list[CompletionRow]:
    """Per timepoint, arm and instrument: sessions planned, invitations sent, started,
    completed, expired, reminders sent, and the median time from invitation to completion.
    Without `by_arm`, the arms are pooled (`arm` is ""): for staff from whom allocation is
    concealed (DESIGN.md §1)."""
    sessions = SurveySession.objects.filter(enrolment__programme=programme)
    keys = ("timepoint__code", "instrument_slug", *(["enrolment__arm__code"] if by_arm else []))
    counts = (
        sessions.values(*keys)
        .annotate(
            sessions=Count("pk"),
            sent=Count("pk", filter=Q(invited_at__isnull=False)),
            started=Count("pk", filter=Q(started_at__isnull=False)),
            completed=Count("pk", filter=Q(state=SessionState.COMPLETED)),
            expired=Count("pk", filter=Q(state=SessionState.EXPIRED)),
            reminders=Sum("reminders_sent"),
        )
        .order_by("timepoint__offset_days", "timepoint__code", *keys[2:], "instrument_slug")
    )
    durations: dict[tuple[str, ...], list[float]] = {}
    finished = sessions.filter(
        state=SessionState.COMPLETED, invited_at__isnull=False, completed_at__isnull=False
    ).values_list("invited_at", "completed_at", *keys)
    for invited_at, completed_at, *key in finished.iterator():
        hours = (completed_at - invited_at).total_seconds() / 3600
        durations.setdefault(tuple(key), []).append(hours)
    rows = []
    for row in counts:
        key = tuple(row[name] for name in keys)
        spent = durations.get(key)
        rows.append(
            CompletionRow(
                timepoint=row["timepoint__code"],
                arm=row["enrolment__arm__code"] if by_arm else "",
                instrument=row["instrument_slug"],
                sessions=row["sessions"],
                sent=row["sent"],
                started=row["started"],
                completed=row["completed"],
                expired=row["expired"],
                reminders_sent=row["reminders"] or 0,
                median_hours_to_complete=round(statistics.median(spent), 2) if spent else None,
            )
        )
    return rows


def sessions_of(enrolment: Any) -> QuerySet[SurveySession]:
    return (
        SurveySession.objects.filter(enrolment=enrolment)
        .select_related("timepoint", "instrument", "result")
        .order_by("timepoint__offset_days", "position")
    )
