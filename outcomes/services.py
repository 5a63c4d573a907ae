"""Writes for outcome measurement (HackSoft style: keyword arguments, one transaction)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import record
from outcomes.actions.answers import stop_session
from outcomes.actions.prompts import cancel_waiting_prompts
from outcomes.instrument_format import BUILT_IN, InstrumentSpec, built_in
from outcomes.models import (
    UNFINISHED_STATES,
    ChannelRule,
    Instrument,
    SessionState,
    SessionStopReason,
    SurveyChannel,
    SurveySchedule,
    SurveySession,
    SurveyTimepoint,
)
from outcomes.planning import planned_sessions, timepoint_window
from peerlink.errors import Conflict, DomainError, NotFound
from people.models import Participant, User
from programmes.models import Enrolment, EnrolmentStatus, Programme
from scheduling.planning import PersonTiming


class ImportOutcome(enum.StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"


@transaction.atomic
def import_instrument(
    *, spec: InstrumentSpec, built_in: bool = False, imported_by: User | None = None
) -> ImportOutcome:
    """Store a parsed instrument version. The same content again changes nothing; different
    content under a version already stored is refused, since answers given to that version
    would change meaning: a changed instrument is a new version."""
    existing = (
        Instrument.objects.select_for_update().filter(slug=spec.slug, version=spec.version).first()
    )
    if existing is not None:
        if existing.content_hash != spec.content_hash:
            raise Conflict(
                "instrument_version_exists",
                f"{spec.slug} version {spec.version} is already stored with other content; "
                "give the changed instrument a new version.",
            )
        return ImportOutcome.UNCHANGED
    instrument = Instrument.objects.create(
        slug=spec.slug,
        version=spec.version,
        name=spec.name,
        languages=list(spec.languages),
        licence=spec.licence,
        citation=spec.citation,
        definition=spec.document,
        content_hash=spec.content_hash,
        built_in=built_in,
    )
    if built_in:
        # Shipped with the release and loaded on every migrate: the release is its record.
        return ImportOutcome.CREATED
    # Last: the audit chain's lock is held from here to the commit.
    record(
        action="instrument.imported",
        actor=imported_by,
        target=instrument,
        details={"slug": spec.slug, "version": spec.version},
    )
    return ImportOutcome.CREATED


def import_built_in_instruments() -> dict[str, ImportOutcome]:
    """The shipped instruments (outcomes/instruments/), each in its own transaction."""
    return {slug: import_instrument(spec=built_in(slug), built_in=True) for slug in BUILT_IN}


# Survey schedules and sessions ---------------------------------------------------------

DEFAULT_TIMEPOINTS: tuple[tuple[str, str, int, int], ...] = (
    # code, label, days after enrolment, days open
    ("baseline", "Baseline", 0, 14),
    ("week6", "6 weeks", 42, 14),
    ("month3", "3 months", 91, 21),
    ("month6", "6 months", 182, 21),
    ("month12", "12 months", 365, 28),
)


@dataclass(frozen=True)
class TimepointSpec:
    code: str
    label: str
    offset_days: int
    window_days: int
    instruments: tuple[str, ...]


def default_timepoints(instruments: Sequence[str]) -> list[TimepointSpec]:
    """Baseline, 6 weeks, 3, 6 and 12 months (DESIGN.md §1), each asking `instruments`."""
    return [
        TimepointSpec(code, label, offset, window, tuple(instruments))
        for code, label, offset, window in DEFAULT_TIMEPOINTS
    ]


def check_timepoints(timepoints: Sequence[TimepointSpec]) -> None:
    codes = [t.code for t in timepoints]
    if len(set(codes)) != len(codes):
        raise DomainError("invalid_survey_schedule", "Timepoint codes must be unique.")
    stored = set(Instrument.objects.values_list("slug", flat=True))
    for timepoint in timepoints:
        if not timepoint.instruments:
            raise DomainError(
                "invalid_survey_schedule", f"Timepoint {timepoint.code} asks no instrument."
            )
        if len(set(timepoint.instruments)) != len(timepoint.instruments):
            raise DomainError(
                "invalid_survey_schedule", f"Timepoint {timepoint.code} names one twice."
            )
        unknown = sorted(set(timepoint.instruments) - stored)
        if unknown:
            raise DomainError(
                "invalid_survey_schedule",
                f"Timepoint {timepoint.code} names instruments not stored: {unknown}.",
            )
        if timepoint.offset_days < 0:
            raise DomainError(
                "invalid_survey_schedule",
                f"Timepoint {timepoint.code} cannot open before enrolment.",
            )
        if timepoint.window_days < 1:
            raise DomainError(
                "invalid_survey_schedule", f"Timepoint {timepoint.code} must be open a day."
            )


MAX_REMINDERS = 10
SCHEDULE_FIELDS = frozenset(
    {
        "active",
        "send_time",
        "quiet_hours_start",
        "quiet_hours_end",
        "reminder_count",
        "reminder_interval_hours",
        "channel_rule",
    }
)


@transaction.atomic
def configure_survey_schedule(
    *,
    programme: Programme,
    changed_by: User | None,
    timepoints: Sequence[TimepointSpec] | None = None,
    **fields: Any,
) -> SurveySchedule:
    """Create or change a programme's survey schedule and its timepoints, then plan the
    sessions of every live enrolment (idempotent: sessions already planned stay as they
    are). A timepoint that already has sessions keeps them; new ones are added."""
    unknown = set(fields) - SCHEDULE_FIELDS
    if unknown:
        raise DomainError("invalid_survey_schedule", f"Unknown fields: {sorted(unknown)}.")
    if "channel_rule" in fields and fields["channel_rule"] not in ChannelRule.values:
        raise DomainError("invalid_survey_schedule", "Unknown channel rule.")
    if not 0 <= fields.get("reminder_count", 0) <= MAX_REMINDERS:
        raise DomainError(
            "invalid_survey_schedule", f"Send between 0 and {MAX_REMINDERS} reminders."
        )
    if fields.get("reminder_interval_hours", 1) < 1:
        raise DomainError("invalid_survey_schedule", "Reminders must be at least an hour apart.")
    if timepoints is not None:
        check_timepoints(timepoints)
    schedule = SurveySchedule.objects.select_for_update().filter(programme=programme).first()
    if schedule is None:
        schedule = SurveySchedule(programme=programme)
    for name, value in fields.items():
        setattr(schedule, name, value)
    schedule.save()
    for timepoint in timepoints or ():
        SurveyTimepoint.objects.update_or_create(
            schedule=schedule,
            code=timepoint.code,
            defaults={
                "label": timepoint.label,
                "offset_days": timepoint.offset_days,
                "window_days": timepoint.window_days,
                "instruments": list(timepoint.instruments),
            },
        )
    enrolments = Enrolment.objects.filter(
        programme=programme, status__in=(EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)
    ).select_related("participant", "arm")
    for enrolment in enrolments.iterator(chunk_size=500):
        plan_surveys(enrolment=enrolment, schedule=schedule)
    # A new send time, offset or window moves what is not yet open; switched back on, what
    # the switch-off stopped carries on, if its window is still open.
    _replan_planned(
        SurveySession.objects.filter(enrolment__programme=programme, state=SessionState.PLANNED)
    )
    if not schedule.active:
        # Switched off: every unfinished session is stopped at the next tick, not when its
        # next reminder would have come.
        SurveySession.objects.filter(
            enrolment__programme=programme, state__in=UNFINISHED_STATES
        ).update(next_action_at=timezone.now())
    else:
        _revive_stopped(
            SurveySession.objects.filter(
                enrolment__programme=programme,
                state=SessionState.STOPPED,
                stop_reason=SessionStopReason.SCHEDULE_OFF,
            )
        )
    # Last: the audit chain's lock is held from here to the commit.
    record(
        action="survey_schedule.changed",
        actor=changed_by,
        target=programme,
        details={
            "fields": sorted(fields),
            "timepoints": [t.code for t in timepoints or ()],
        },
    )
    return schedule


def plan_surveys(*, enrolment: Enrolment, schedule: SurveySchedule | None = None) -> int:
    """The enrolment's survey sessions, one per timepoint and instrument, planned once (the
    natural key makes a second call a no-op). Returns how many were new."""
    if schedule is None:
        schedule = SurveySchedule.objects.filter(programme_id=enrolment.programme_id).first()
    if schedule is None or not schedule.active or not enrolment.arm.surveys:
        return 0
    timepoints = list(schedule.timepoints.all())
    sessions = planned_sessions(enrolment, schedule, timepoints)
    before = SurveySession.objects.filter(enrolment=enrolment).count()
    SurveySession.objects.bulk_create(sessions, ignore_conflicts=True)
    return SurveySession.objects.filter(enrolment=enrolment).count() - before


def _replan_planned(sessions: QuerySet[SurveySession]) -> int:
    # In pk order, as STOP's hold_surveys locks them: never a deadlock between the two.
    locked = list(
        sessions.select_for_update(of=("self",))
        .select_related("enrolment__participant", "timepoint__schedule")
        .order_by("pk")
    )
    for session in locked:
        window = timepoint_window(
            session.timepoint,
            schedule=session.timepoint.schedule,
            enrolled_at=session.enrolment.enrolled_at,
            person=PersonTiming.of(session.enrolment.participant),
        )
        session.opens_at = session.next_action_at = window.opens_at
        session.closes_at = window.closes_at
        session.save(update_fields=["opens_at", "closes_at", "next_action_at", "updated_at"])
    return len(locked)


def replan_planned_surveys(*, participant: Participant) -> int:
    """The person's time zone or quiet hours changed: sessions not yet open move with them."""
    return _replan_planned(
        SurveySession.objects.filter(enrolment__participant=participant, state=SessionState.PLANNED)
    )


def _revive_stopped(sessions: QuerySet[SurveySession]) -> int:
    """Stopped sessions carry on, while their window is open and the enrolment lives: those
    never asked as planned, those already asked paused (one reminder asks the question
    waiting, however many were sent before)."""
    now = timezone.now()
    locked = list(
        sessions.select_for_update(of=("self",))
        .select_related("timepoint__schedule")
        .filter(
            enrolment__status__in=(EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED),
            closes_at__gt=now,
        )
        .order_by("pk")
    )
    for session in locked:
        schedule = session.timepoint.schedule
        session.stop_reason = SessionStopReason.NONE
        session.ended_at = None
        if session.invited_at is None:
            session.state = SessionState.PLANNED
            session.next_action_at = max(session.opens_at, now)
        elif session.channel == SurveyChannel.WEB:
            # The link still works: one reminder with it, then the usual rules.
            session.state = SessionState.IN_PROGRESS if session.started_at else SessionState.INVITED
            session.reminders_sent = min(
                session.reminders_sent, max(schedule.reminder_count - 1, 0)
            )
            session.next_action_at = now
        else:
            session.state = SessionState.PAUSED
            session.reminders_sent = min(
                session.reminders_sent, max(schedule.reminder_count - 1, 0)
            )
            session.next_action_at = now
        session.save()
    return len(locked)


def stop_surveys(*, sessions: QuerySet[SurveySession], reason: str) -> int:
    now = timezone.now()
    stopping = list(
        sessions.select_for_update(of=("self",)).filter(state__in=UNFINISHED_STATES).order_by("pk")
    )
    for session in stopping:
        stop_session(session=session, reason=reason, now=now)
    return len(stopping)


def hold_surveys(*, participant: Participant) -> None:
    """Lock the person's sessions and change nothing: the first step of a STOP, in the
    survey dispatcher's order (sessions before the outbox and the thread)."""
    list(
        SurveySession.objects.select_for_update(of=("self",))
        .filter(enrolment__participant=participant)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def resume_surveys_after_opt_in(*, participant: Participant) -> int:
    """START: SMS sessions that STOP stopped, still in their window, carry on; a reminder
    goes at the next tick, asking the question waiting."""
    return _revive_stopped(
        SurveySession.objects.filter(
            enrolment__participant=participant,
            state=SessionState.STOPPED,
            stop_reason=SessionStopReason.OPTED_OUT,
        )
    )


@transaction.atomic
def switch_to_web_link(*, session_id: uuid.UUID, by: User | None) -> SurveySession:
    """Staff: ask this survey by a web link instead of by SMS (someone who finds answering by
    text hard). An open SMS session keeps its answers and its link goes at the next tick."""
    session = SurveySession.objects.select_for_update(of=("self",)).filter(pk=session_id).first()
    if session is None:
        raise NotFound("not_found", "No such survey session.")
    if session.state not in UNFINISHED_STATES:
        raise Conflict("survey_session_closed", "This survey session has ended.")
    if session.channel != SurveyChannel.WEB:
        cancel_waiting_prompts(session=session)
        session.channel = SurveyChannel.WEB
        session.current_item = ""
        if session.state != SessionState.PLANNED:
            # Started or not, it waits for its link now; the dispatcher sends it at once.
            session.state = SessionState.IN_PROGRESS if session.started_at else SessionState.INVITED
            session.next_action_at = timezone.now()
        session.save()
    record(action="survey_session.switched_to_web", actor=by, target=session.enrolment)
    return session
