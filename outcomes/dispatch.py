"""The survey dispatcher: every minute (the beat's tick, and `manage.py dispatch_due`), the
sessions whose next action is due: a timepoint that opens (the invitation), a reminder, or a
window that closes (the session expires, its answers kept and scored as incomplete).

Written by hand for the reason scheduling/dispatch.py gives: one row per session with its
next action's time, claimed with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL so that
any number of dispatchers share the work and none does a session twice; never one Celery ETA
task per survey. Surveys are a few per person a year, not one or two texts a day: rows are
handled one by one, each in its own savepoint, so that one that fails waits alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from messaging.models import Conversation
from outcomes.actions.answers import expire_session, stop_session
from outcomes.actions.prompts import ensure_link, post_link_in_thread, text_prompt
from outcomes.instrument_format import InstrumentSpec
from outcomes.models import (
    OPEN_STATES,
    UNFINISHED_STATES,
    ChannelRule,
    PromptKind,
    SessionState,
    SessionStopReason,
    SurveyChannel,
    SurveyLink,
    SurveySchedule,
    SurveySession,
)
from outcomes.planning import PROMPT_STALENESS, first_allowed, next_reminder_at, survey_quiet
from outcomes.selectors import answers_of, newest_instrument, spec_of
from people.models import Channel, Participant
from people.selectors import sms_allowed_ids
from programmes.models import EnrolmentStatus
from scheduling.planning import PersonTiming
from scheduling.timing import stale_after

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 100
# A person reached by no channel today (no SMS consent, no thread) is looked at again daily
# while the window is open: they may opt back in.
RECHECK_UNREACHABLE = dt.timedelta(days=1)
# An SMS survey waits while another of the person's is open (one conversation at a time);
# the other's end brings it forward (sms_session._invite_next_soon).
WAIT_FOR_OTHER_SESSION = dt.timedelta(hours=1)
RETRY_AFTER = dt.timedelta(minutes=5)


@dataclass
class SurveyDispatchResult:
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def handled(self) -> int:
        return sum(self.outcomes.values())


@dataclass(frozen=True)
class Reach:
    sms: bool
    conversation: Conversation | None

    @property
    def web(self) -> bool:
        """A web link reaches them: by SMS, or in their thread."""
        return self.sms or self.conversation is not None


def _reach(participant: Participant, enrolment_id: uuid.UUID) -> Reach:
    # An opt-out withdraws the consent: no active consent covers STOP too.
    sms = participant.pk in sms_allowed_ids([participant.pk])
    conversation = Conversation.objects.filter(enrolment_id=enrolment_id).first()
    return Reach(sms=sms, conversation=conversation)


def _channel(schedule: SurveySchedule, participant: Participant, reach: Reach) -> str | None:
    """SMS or web by the schedule's rule (by default the person's preference), falling back
    to the other when the first can't reach them; None when neither can."""
    wanted = schedule.channel_rule
    if wanted == ChannelRule.PREFERENCE:
        wanted = (
            SurveyChannel.SMS if participant.preferred_channel == Channel.SMS else SurveyChannel.WEB
        )
    if wanted == SurveyChannel.SMS and reach.sms:
        return SurveyChannel.SMS
    if reach.web:
        return SurveyChannel.WEB
    return None


def _stop_reason(session: SurveySession, schedule: SurveySchedule | None) -> str | None:
    enrolment = session.enrolment
    if enrolment.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED):
        return SessionStopReason.ENROLMENT_ENDED
    if not enrolment.arm.surveys:
        return SessionStopReason.NOT_IN_ARM
    if schedule is None or not schedule.active:
        return SessionStopReason.SCHEDULE_OFF
    return None


def _look_again(session: SurveySession, *, at: dt.datetime, outcome: str) -> str:
    """Nothing sent now: the session is looked at again at `at` (or when its window closes)."""
    session.next_action_at = min(at, session.closes_at)
    session.save()
    return outcome


def _hold_person(session: SurveySession) -> bool:
    """Lock the person, never waiting: two dispatchers inviting one person to two SMS surveys
    at once (two programmes) would each miss the other's uncommitted invitation. False when
    another holds them. SQLite runs one dispatcher and needs no lock."""
    if not connection.features.has_select_for_update_skip_locked:
        return True
    held = (
        Participant.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(pk=session.enrolment.participant_id)
        .values_list("pk", flat=True)
        .first()
    )
    return held is not None


def _sms_wait(session: SurveySession) -> dt.timedelta | None:
    """How long an SMS invitation waits for the person's turn, or None when it is theirs.
    Asked before the person's lock (so that a session that must wait anyway does not hold
    the person from the one that goes first) and again under it (what another dispatcher
    committed meanwhile counts)."""
    if _sms_session_before(session):
        return WAIT_FOR_OTHER_SESSION
    if not _hold_person(session):
        # Another dispatcher is inviting this person to another survey (another programme's)
        # right now: whichever commits first goes first.
        return dt.timedelta(minutes=1)
    if _sms_session_before(session):
        return WAIT_FOR_OTHER_SESSION
    return None


def _other_sms_session_open(session: SurveySession) -> bool:
    return (
        SurveySession.objects.filter(
            enrolment__participant_id=session.enrolment.participant_id,
            channel=SurveyChannel.SMS,
            state__in=OPEN_STATES,
        )
        .exclude(pk=session.pk)
        .exists()
    )


def _sms_session_before(session: SurveySession) -> bool:
    """Whether an SMS survey of the person must go first: one already open, or an earlier
    instrument of the same timepoint not yet done (by SMS, one conversation at a time, in the
    timepoint's order)."""
    earlier = SurveySession.objects.filter(
        enrolment_id=session.enrolment_id,
        timepoint_id=session.timepoint_id,
        position__lt=session.position,
        state=SessionState.PLANNED,
    ).exclude(channel=SurveyChannel.WEB)
    return _other_sms_session_open(session) or earlier.exists()


def _language(spec: InstrumentSpec, participant: Participant) -> str:
    return participant.language if participant.language in spec.languages else spec.languages[0]


def _send_link(session: SurveySession, *, kind: str, reach: Reach, expires_at: dt.datetime) -> None:
    ensure_link(session)
    if reach.sms:
        text_prompt(session=session, kind=kind, expires_at=expires_at)
    else:
        assert reach.conversation is not None
        post_link_in_thread(
            session=session, conversation=reach.conversation, kind=kind, expires_at=expires_at
        )


def _invite(
    session: SurveySession, schedule: SurveySchedule, person: PersonTiming, *, now: dt.datetime
) -> str:
    participant = session.enrolment.participant
    reach = _reach(participant, session.enrolment_id)
    # A web link staff chose (switch_to_web_link) holds; otherwise the schedule's rule decides.
    if session.channel == SurveyChannel.WEB:
        channel: str | None = SurveyChannel.WEB if reach.web else None
    else:
        channel = _channel(schedule, participant, reach)
    if channel is None:
        return _look_again(session, at=now + RECHECK_UNREACHABLE, outcome="unreachable")
    if channel == SurveyChannel.SMS:
        wait = _sms_wait(session)
        if wait is not None:
            return _look_again(session, at=now + wait, outcome="waiting")
    instrument = newest_instrument(session.instrument_slug)
    if instrument is None:
        raise LookupError(f"no instrument {session.instrument_slug!r} is stored")
    spec = spec_of(instrument)
    session.instrument = instrument
    session.language = _language(spec, participant)
    session.channel = channel
    session.state = SessionState.INVITED
    session.invited_at = session.last_activity_at = now
    expires_at = _prompt_expiry(session, now, person, schedule)
    if channel == SurveyChannel.SMS:
        session.current_item = spec.items[0].key
        text_prompt(
            session=session,
            kind=PromptKind.INTRO,
            item_key=session.current_item,
            expires_at=expires_at,
        )
    else:
        _send_link(session, kind=PromptKind.LINK, reach=reach, expires_at=expires_at)
    session.next_action_at = next_reminder_at(session, schedule, person)
    session.save()
    return "invited"


def _prompt_expiry(
    session: SurveySession, now: dt.datetime, person: PersonTiming, schedule: SurveySchedule
) -> dt.datetime:
    """Not sent after the staleness limit, the next quiet hours or the window's close (a
    link that would answer 410 is no invitation)."""
    stale = stale_after(
        now,
        limit=PROMPT_STALENESS,
        tz_name=person.time_zone,
        quiet=survey_quiet(schedule, person),
    )
    return min(stale, session.closes_at)


def _remind(
    session: SurveySession, schedule: SurveySchedule, person: PersonTiming, *, now: dt.datetime
) -> str:
    participant = session.enrolment.participant
    if (
        session.channel == SurveyChannel.WEB
        and not SurveyLink.objects.filter(session=session).exists()
    ):
        # Switched from SMS to the web by staff: its first link, not a reminder.
        return _first_link(session, schedule, person, now=now)
    if session.reminders_sent >= schedule.reminder_count and session.state != SessionState.PAUSED:
        return _look_again(session, at=session.closes_at, outcome="waiting")
    reach = _reach(participant, session.enrolment_id)
    expires_at = _prompt_expiry(session, now, person, schedule)
    if session.channel == SurveyChannel.SMS:
        if not reach.sms:
            # Opted out meanwhile (the STOP receiver stops SMS sessions; this is the net).
            stop_session(session=session, reason=SessionStopReason.OPTED_OUT, now=now)
            return "stopped:opted_out"
        if _other_sms_session_open(session):
            # One SMS survey at a time: answers go to the open one (a revived session waits).
            return _look_again(session, at=now + WAIT_FOR_OTHER_SESSION, outcome="waiting")
        if session.state == SessionState.PAUSED:
            session.state = SessionState.IN_PROGRESS if session.started_at else SessionState.INVITED
        session.invalid_answers = 0
        text_prompt(
            session=session,
            kind=PromptKind.REMINDER,
            item_key=session.current_item,
            expires_at=expires_at,
        )
    else:
        if not reach.web:
            return _look_again(session, at=now + RECHECK_UNREACHABLE, outcome="unreachable")
        _send_link(session, kind=PromptKind.LINK_REMINDER, reach=reach, expires_at=expires_at)
    session.reminders_sent += 1
    session.last_activity_at = now
    session.next_action_at = next_reminder_at(session, schedule, person)
    session.save()
    return "reminded"


def _first_link(
    session: SurveySession, schedule: SurveySchedule, person: PersonTiming, *, now: dt.datetime
) -> str:
    reach = _reach(session.enrolment.participant, session.enrolment_id)
    if not reach.web:
        return _look_again(session, at=now + RECHECK_UNREACHABLE, outcome="unreachable")
    _send_link(
        session,
        kind=PromptKind.LINK,
        reach=reach,
        expires_at=_prompt_expiry(session, now, person, schedule),
    )
    session.last_activity_at = now
    session.next_action_at = next_reminder_at(session, schedule, person)
    session.save()
    return "invited"


def _handle(session: SurveySession, *, now: dt.datetime) -> str:
    schedule = getattr(session.enrolment.programme, "survey_schedule", None)
    stop = _stop_reason(session, schedule)
    if stop is not None:
        stop_session(session=session, reason=stop, now=now)
        return f"stopped:{stop}"
    assert schedule is not None
    if now >= session.closes_at:
        had_answers = bool(answers_of(session)) if session.instrument_id else False
        expire_session(session=session, now=now)
        return "expired_partial" if had_answers else "expired"
    if session.enrolment.status == EnrolmentStatus.PAUSED:
        # Staff paused the person's programme: nothing is asked of them until it resumes.
        return _look_again(session, at=now + RECHECK_UNREACHABLE, outcome="enrolment_paused")
    person = PersonTiming.of(session.enrolment.participant)
    allowed = first_allowed(now, tz_name=person.time_zone, quiet=survey_quiet(schedule, person))
    if allowed > now:
        return _look_again(session, at=allowed, outcome="quiet_hours")
    if session.state == SessionState.PLANNED:
        return _invite(session, schedule, person, now=now)
    return _remind(session, schedule, person, now=now)


def _claim(now: dt.datetime, batch: int, failed: set[uuid.UUID]) -> list[SurveySession]:
    due = (
        SurveySession.objects.filter(state__in=UNFINISHED_STATES, next_action_at__lte=now)
        .exclude(pk__in=failed)
        .select_related(
            "enrolment__participant__data_key",
            "enrolment__programme__survey_schedule",
            "enrolment__arm",
            "timepoint",
            "instrument",
        )
        .order_by("next_action_at", "position", "pk")
    )
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due[:batch])


def dispatch_surveys(
    *, now: dt.datetime | None = None, batch: int = DEFAULT_BATCH, max_batches: int | None = None
) -> SurveyDispatchResult:
    """Handle every session whose next action is due, batch after batch."""
    result = SurveyDispatchResult()
    failed: set[uuid.UUID] = set()
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        tick = now or timezone.now()
        with transaction.atomic():
            sessions = _claim(tick, batch, failed)
            for session in sessions:
                try:
                    with transaction.atomic():
                        result.outcomes[_handle(session, now=tick)] += 1
                except Exception as exc:
                    # Any failure of one session must not hold up the others: it waits alone.
                    logger.warning(
                        "survey session failed, retrying later session=%s: %s",
                        session.pk,
                        type(exc).__name__,
                    )
                    failed.add(session.pk)
                    SurveySession.objects.filter(pk=session.pk).update(
                        next_action_at=tick + RETRY_AFTER
                    )
                    result.outcomes["failed"] += 1
        if len(sessions) < batch:
            break
    return result
