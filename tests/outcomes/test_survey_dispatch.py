"""The survey dispatcher (issue 8 items 2 and 6; DESIGN.md §3, data flow 5).

Proves that a session is invited at its opening and not before, by the channel its
schedule's rule and the person's preference and reach give (an SMS introduction, or a web
link by SMS or in their thread, or nothing yet for someone no channel reaches); that no
survey text goes in quiet hours, the person's or the programme's, and an invitation's outbox
row is given up before the next quiet hours begin; that reminders follow the schedule's count
and interval exactly and then stop, and the window's close expires the session; that an
ended enrolment, a paused one and a schedule turned off send nothing more; that the
completion metrics count a hand-built scenario exactly; and, on PostgreSQL, that two
dispatchers at once invite each of hundreds of due sessions exactly once. All names and
numbers are fictional; no message body or phone number is printed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
from django.test import Client

from messaging.models import Message, MessageChannel, OutboxStatus, OutboxTemplate, SmsOutbox
from outcomes import dispatch as dispatch_module
from outcomes.dispatch import dispatch_surveys
from outcomes.models import (
    PromptKind,
    SessionState,
    SessionStopReason,
    SurveyChannel,
    SurveyLink,
    SurveyPrompt,
    SurveyResult,
    SurveySession,
)
from outcomes.selectors import CompletionRow, completion_metrics
from outcomes.services import (
    TimepointSpec,
    configure_survey_schedule,
    default_timepoints,
)
from people.models import Channel, ConsentKind, ConsentSource
from people.services import grant_consent, update_timing_preferences
from programmes.models import Enrolment, EnrolmentStatus, Programme
from programmes.services import ArmSpec, end_enrolment
from tests.conftest import using_postgres
from tests.outcomes.surveys import (
    PEER_SUPPORT,
    baseline,
    enrol_at,
    prompt_kinds,
    reply,
    session_of,
    sessions_of,
    survey_programme,
    survey_sms,
    survey_texts,
    tick,
)
from tests.scheduling.texts import automated_bodies, clock, utc
from tests.support.concurrency import at_once
from tests.support.factories import enrol, fictional_phone, make_programme

pytestmark = pytest.mark.django_db

ENROLLED = "2026-12-01T17:00"  # 10:00 in Edmonton (MST, UTC-7)
OPENS = utc("2026-12-01T18:00")  # 11:00 in Edmonton: the default send time
CLOSES = OPENS + dt.timedelta(days=14)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
SIX_HOURS = dt.timedelta(hours=6)
PHQ9_ITEMS = 10


def _ticks(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> int:
    """Dispatcher ticks from `start` up to (not including) `end`; how many sessions moved."""
    handled = 0
    moment = start
    while moment < end:
        handled += tick(moment).handled
        moment += step
    return handled


def _prompt_times(enrolment: Enrolment, kind: str) -> list[dt.datetime]:
    return [
        p.created_at.astimezone(dt.UTC)
        for p in SurveyPrompt.objects.filter(session__enrolment=enrolment, kind=kind).order_by(
            "session", "seq"
        )
    ]


def _invited(**schedule: object) -> tuple[Programme, Enrolment]:
    """A programme whose person was invited to their baseline PHQ-9 by SMS at OPENS."""
    programme = survey_programme(**schedule)
    enrolment = enrol_at(programme, ENROLLED)
    assert tick(OPENS).outcomes["invited"] == 1
    return programme, enrolment


# The invitation ------------------------------------------------------------------------


def test_a_tick_before_the_session_opens_does_nothing() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)

    result = tick(OPENS - MINUTE)

    assert result.handled == 0
    assert session_of(enrolment).state == SessionState.PLANNED
    assert survey_sms(enrolment) == []


def test_at_its_opening_an_sms_person_gets_the_introduction_by_sms() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)

    result = tick(OPENS)

    assert result.outcomes == {"invited": 1}
    session = session_of(enrolment)
    assert (session.state, session.channel) == (SessionState.INVITED, SurveyChannel.SMS)
    assert session.invited_at == OPENS
    (outbox,) = survey_sms(enrolment)
    assert outbox.template == OutboxTemplate.SURVEY
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]
    (intro,) = survey_texts(enrolment)
    assert "STOP and HELP still work" in intro
    assert "Q1/10" in intro
    assert not SurveyLink.objects.filter(session=session).exists()


def test_at_its_opening_a_web_person_gets_a_link() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED, channel=Channel.WEB)

    tick(OPENS)

    session = session_of(enrolment)
    assert (session.state, session.channel) == (SessionState.INVITED, SurveyChannel.WEB)
    link = SurveyLink.objects.get(session=session)
    assert link.expires_at == session.closes_at
    assert prompt_kinds(enrolment) == [PromptKind.LINK]
    (text,) = survey_texts(enrolment)
    assert "/surveys/" in text


def test_the_web_channel_rule_sends_a_link_to_an_sms_person() -> None:
    programme = survey_programme(channel_rule="web")
    enrolment = enrol_at(programme, ENROLLED, channel=Channel.SMS)

    tick(OPENS)

    assert session_of(enrolment).channel == SurveyChannel.WEB
    assert prompt_kinds(enrolment) == [PromptKind.LINK]
    assert "/surveys/" in survey_texts(enrolment)[0]


def test_the_sms_channel_rule_starts_an_sms_session_for_a_web_person() -> None:
    programme = survey_programme(channel_rule="sms")
    enrolment = enrol_at(programme, ENROLLED, channel=Channel.WEB)

    tick(OPENS)

    session = session_of(enrolment)
    assert session.channel == SurveyChannel.SMS
    assert session.current_item == "phq9_1"
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]
    assert not SurveyLink.objects.filter(session=session).exists()


def test_an_sms_person_without_sms_consent_gets_the_link_in_their_thread() -> None:
    programme = survey_programme(arms=PEER_SUPPORT)
    enrolment = enrol_at(programme, ENROLLED, channel=Channel.SMS, sms_consent=False)

    tick(OPENS)

    session = session_of(enrolment)
    assert (session.state, session.channel) == (SessionState.INVITED, SurveyChannel.WEB)
    assert SurveyLink.objects.filter(session=session).exists()
    (posted,) = automated_bodies(enrolment)
    assert "/surveys/" in posted
    assert Message.objects.get(conversation__enrolment=enrolment).channel == (
        MessageChannel.AUTOMATED
    )
    # The thread's SMS copy is written as not sent (no consent): nothing goes by text.
    statuses = SmsOutbox.objects.filter(participant=enrolment.participant)
    assert set(statuses.values_list("status", flat=True)) <= {OutboxStatus.SKIPPED}


def test_someone_no_channel_reaches_is_not_sent_anything_and_is_looked_at_again_later() -> None:
    programme = survey_programme()  # no peer support: no thread
    enrolment = enrol_at(programme, ENROLLED, sms_consent=False)

    result = tick(OPENS)

    assert result.outcomes == {"unreachable": 1}
    session = session_of(enrolment)
    assert session.state == SessionState.PLANNED
    assert session.next_action_at is not None and session.next_action_at > OPENS
    assert not SurveyPrompt.objects.filter(session=session).exists()
    assert not SurveyLink.objects.exists()
    assert not SmsOutbox.objects.filter(participant=enrolment.participant).exists()


def test_someone_unreachable_who_consents_to_sms_later_is_invited_when_looked_at_again() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED, sms_consent=False)
    tick(OPENS)
    with clock(OPENS + HOUR):
        grant_consent(
            participant=enrolment.participant,
            kind=ConsentKind.SMS,
            version="v1",
            source=ConsentSource.STAFF,
        )
    looked_again = session_of(enrolment).next_action_at
    assert looked_again is not None

    tick(looked_again)

    assert session_of(enrolment).state == SessionState.INVITED
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]


def test_a_second_instrument_by_sms_waits_until_the_first_is_done(client: Client) -> None:
    programme = survey_programme(timepoints=baseline("phq9", "gad7"))
    enrolment = enrol_at(programme, ENROLLED)

    assert tick(OPENS).outcomes == {"invited": 1, "waiting": 1}
    assert session_of(enrolment, "gad7").state == SessionState.PLANNED
    for _ in range(PHQ9_ITEMS):
        reply(client, enrolment, "0", OPENS + HOUR)
    assert session_of(enrolment, "phq9").state == SessionState.COMPLETED

    assert tick(OPENS + HOUR).outcomes == {"invited": 1}
    gad7 = session_of(enrolment, "gad7")
    assert (gad7.state, gad7.channel) == (SessionState.INVITED, SurveyChannel.SMS)
    intros = SurveyPrompt.objects.filter(session__enrolment=enrolment, kind=PromptKind.INTRO)
    assert [p.session.instrument_slug for p in intros.order_by("created_at", "pk")] == [
        "phq9",
        "gad7",
    ]


# Quiet hours ---------------------------------------------------------------------------


def test_a_session_due_in_the_programmes_quiet_hours_waits_until_they_end() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    night = utc("2026-12-02T05:00")  # 22:00 local: the dispatcher was down since 11:00

    result = tick(night)

    assert result.outcomes == {"quiet_hours": 1}
    assert survey_sms(enrolment) == []
    morning = utc("2026-12-02T15:00")  # 08:00 local
    assert session_of(enrolment).next_action_at == morning
    assert _ticks(night + HOUR, morning, HOUR) == 0
    assert survey_sms(enrolment) == []
    assert tick(morning).outcomes == {"invited": 1}
    assert _prompt_times(enrolment, PromptKind.INTRO) == [morning]


def test_a_planned_session_moves_out_of_quiet_hours_the_programme_set_since() -> None:
    """Planned for 11:00 local, then the programme made 10:00-12:00 quiet: saving the schedule
    moves the planned session to 12:00, and nothing goes before."""
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    with clock(ENROLLED):
        configure_survey_schedule(
            programme=programme,
            changed_by=None,
            quiet_hours_start=dt.time(10, 0),
            quiet_hours_end=dt.time(12, 0),
        )

    assert session_of(enrolment).opens_at == OPENS + HOUR
    assert tick(OPENS).handled == 0
    assert survey_sms(enrolment) == []
    assert tick(OPENS + HOUR).outcomes == {"invited": 1}  # 12:00 local
    assert _prompt_times(enrolment, PromptKind.INTRO) == [OPENS + HOUR]


def test_a_session_due_in_the_persons_own_quiet_hours_waits_until_they_end() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    with clock(ENROLLED):
        update_timing_preferences(
            participant=enrolment.participant,
            changed_by=None,
            quiet_hours_start=dt.time(12, 0),
            quiet_hours_end=dt.time(14, 0),
        )
    late = utc("2026-12-01T19:30")  # 12:30 local: the dispatcher missed 11:00

    assert tick(late).outcomes == {"quiet_hours": 1}
    assert survey_sms(enrolment) == []
    assert tick(utc("2026-12-01T20:59")).handled == 0
    assert tick(utc("2026-12-01T21:00")).outcomes == {"invited": 1}  # 14:00 local
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]


def test_an_invitations_outbox_row_expires_no_later_than_the_next_quiet_hours() -> None:
    """Sent at 19:30 local, three hours of staleness would run to 22:30: the programme's
    quiet hours begin at 21:00, and the text is given up then."""
    programme = survey_programme(send_time=dt.time(19, 30))
    enrolment = enrol_at(programme, ENROLLED)
    opens = utc("2026-12-02T02:30")  # 19:30 local on 1 December
    assert session_of(enrolment).opens_at == opens

    tick(opens)

    (outbox,) = survey_sms(enrolment)
    assert outbox.expires_at == utc("2026-12-02T04:00")  # 21:00 local


def test_a_reminder_that_would_fall_at_night_goes_when_the_quiet_hours_end() -> None:
    """Invited at 11:00 local, a reminder 12 hours on would be 23:00: it waits to 08:00."""
    _, enrolment = _invited(reminder_count=1, reminder_interval_hours=12)

    assert session_of(enrolment).next_action_at == utc("2026-12-02T15:00")
    assert _ticks(OPENS + HOUR, utc("2026-12-02T15:00"), HOUR) == 0
    assert tick(utc("2026-12-02T15:00")).outcomes == {"reminded": 1}
    assert prompt_kinds(enrolment) == [PromptKind.INTRO, PromptKind.REMINDER]


# Reminders and expiry ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "hours", "expected"),
    [
        (2, 72, ["2026-12-04T18:00", "2026-12-07T18:00"]),
        (1, 24, ["2026-12-02T18:00"]),
        # 100 hours on: 15:00, then 19:00 local, then 23:00 (quiet) moves to 08:00.
        (3, 100, ["2026-12-05T22:00", "2026-12-10T02:00", "2026-12-14T15:00"]),
        (0, 72, []),
    ],
    ids=["2x72h", "1x24h", "3x100h", "none"],
)
def test_reminders_follow_the_schedules_count_and_interval_exactly(
    count: int, hours: int, expected: list[str]
) -> None:
    _, enrolment = _invited(reminder_count=count, reminder_interval_hours=hours)
    due = [utc(when) for when in expected]

    for moment in due:
        assert tick(moment - MINUTE).handled == 0
        assert tick(moment).outcomes == {"reminded": 1}
    after = due[-1] + HOUR if due else OPENS + HOUR
    assert _ticks(after, CLOSES, SIX_HOURS) == 0

    assert _prompt_times(enrolment, PromptKind.REMINDER) == due
    assert prompt_kinds(enrolment) == [PromptKind.INTRO] + [PromptKind.REMINDER] * count
    assert session_of(enrolment).reminders_sent == count


def test_a_web_session_is_reminded_with_its_link() -> None:
    programme = survey_programme(reminder_count=2, reminder_interval_hours=72)
    enrolment = enrol_at(programme, ENROLLED, channel=Channel.WEB)
    tick(OPENS)

    _ticks(OPENS + SIX_HOURS, CLOSES, SIX_HOURS)

    assert prompt_kinds(enrolment) == [
        PromptKind.LINK,
        PromptKind.LINK_REMINDER,
        PromptKind.LINK_REMINDER,
    ]
    assert all("/surveys/" in text for text in survey_texts(enrolment))
    assert SurveyLink.objects.filter(session__enrolment=enrolment).count() == 1
    assert session_of(enrolment).reminders_sent == 2


def test_a_session_expires_when_its_window_closes() -> None:
    _, enrolment = _invited(reminder_count=0)

    assert tick(CLOSES - MINUTE).handled == 0
    assert session_of(enrolment).state == SessionState.INVITED
    result = tick(CLOSES)

    assert result.outcomes == {"expired": 1}
    session = session_of(enrolment)
    assert session.state == SessionState.EXPIRED
    assert session.ended_at == CLOSES
    assert session.next_action_at is None


def test_a_session_never_started_has_no_result_when_it_expires() -> None:
    _, enrolment = _invited(reminder_count=2, reminder_interval_hours=72)

    _ticks(OPENS + SIX_HOURS, CLOSES + HOUR, SIX_HOURS)

    session = session_of(enrolment)
    assert session.state == SessionState.EXPIRED
    assert not SurveyResult.objects.filter(session=session).exists()
    assert prompt_kinds(enrolment) == [PromptKind.INTRO, PromptKind.REMINDER, PromptKind.REMINDER]


def test_a_session_never_sent_expires_when_its_window_closes() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED, sms_consent=False)

    _ticks(OPENS, CLOSES + HOUR, SIX_HOURS)

    session = session_of(enrolment)
    assert session.state == SessionState.EXPIRED
    assert session.invited_at is None
    assert not SurveyResult.objects.filter(session=session).exists()


def test_an_expired_session_sends_nothing_more() -> None:
    _, enrolment = _invited()
    _ticks(OPENS + SIX_HOURS, CLOSES + HOUR, SIX_HOURS)
    kinds = prompt_kinds(enrolment)

    assert _ticks(CLOSES + HOUR, CLOSES + dt.timedelta(days=10), SIX_HOURS) == 0
    assert prompt_kinds(enrolment) == kinds


# Enrolment and schedule changes --------------------------------------------------------


def test_ending_the_enrolment_stops_every_unfinished_session() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))
    enrolment = enrol_at(programme, ENROLLED)
    tick(OPENS)

    with clock(OPENS + HOUR):
        end_enrolment(enrolment=enrolment, status=EnrolmentStatus.WITHDRAWN, ended_by=None)

    sessions = sessions_of(enrolment)
    assert len(sessions) == 5
    assert {(s.state, s.stop_reason, s.next_action_at) for s in sessions} == {
        (SessionState.STOPPED, SessionStopReason.ENROLMENT_ENDED, None)
    }


def test_ending_the_enrolment_cancels_its_survey_texts_still_waiting_to_go() -> None:
    """A question held up in the outbox (a provider outage) must not reach someone withdrawn."""
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    tick(OPENS)
    (intro,) = survey_sms(enrolment)
    assert intro.status == OutboxStatus.PENDING  # the test's outbox is never rung

    with clock(OPENS + HOUR):
        end_enrolment(enrolment=enrolment, status=EnrolmentStatus.WITHDRAWN, ended_by=None)

    intro.refresh_from_db()
    assert intro.status == OutboxStatus.SKIPPED


def test_a_reminder_is_not_sent_after_its_window_closes() -> None:
    _programme, enrolment = _invited(reminder_count=1, reminder_interval_hours=24 * 13 + 22)
    reminder_at = session_of(enrolment).next_action_at
    assert reminder_at < CLOSES < reminder_at + dt.timedelta(hours=3)

    tick(reminder_at)

    reminder = survey_sms(enrolment)[-1]
    assert reminder.survey_prompt is not None
    assert reminder.survey_prompt.kind == PromptKind.REMINDER
    assert reminder.expires_at == CLOSES


def test_an_ended_enrolment_gets_no_more_survey_texts() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))
    enrolment = enrol_at(programme, ENROLLED)
    tick(OPENS)
    with clock(OPENS + HOUR):
        end_enrolment(enrolment=enrolment, status=EnrolmentStatus.COMPLETED, ended_by=None)

    handled = _ticks(OPENS + 2 * HOUR, CLOSES + HOUR, SIX_HOURS)
    handled += tick(utc("2027-01-12T18:00")).handled  # when week 6 would open

    assert handled == 0
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]


def _pause(enrolment: Enrolment, status: str = EnrolmentStatus.PAUSED) -> None:
    # No service pauses an enrolment yet (staff do it in the admin): set it as they would.
    enrolment.status = status
    enrolment.save(update_fields=["status"])


def test_a_paused_enrolment_gets_no_invitation_while_paused() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    _pause(enrolment)

    assert tick(OPENS).outcomes == {"enrolment_paused": 1}
    _ticks(OPENS + SIX_HOURS, OPENS + dt.timedelta(days=5), SIX_HOURS)

    assert session_of(enrolment).state == SessionState.PLANNED
    assert SurveyPrompt.objects.filter(session__enrolment=enrolment).count() == 0
    assert survey_sms(enrolment) == []


def test_a_paused_enrolment_is_invited_once_it_resumes() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    _pause(enrolment)
    tick(OPENS)
    _pause(enrolment, EnrolmentStatus.ACTIVE)

    _ticks(OPENS + HOUR, OPENS + dt.timedelta(days=1, hours=1), HOUR)

    assert session_of(enrolment).state == SessionState.INVITED
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]


def test_a_paused_enrolment_gets_no_reminder_while_paused() -> None:
    _, enrolment = _invited(reminder_count=2, reminder_interval_hours=72)
    _pause(enrolment)

    _ticks(OPENS + SIX_HOURS, OPENS + dt.timedelta(days=8), SIX_HOURS)

    assert prompt_kinds(enrolment) == [PromptKind.INTRO]
    assert session_of(enrolment).reminders_sent == 0


def test_a_schedule_turned_off_stops_a_planned_session_at_its_next_tick() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    with clock(ENROLLED):
        configure_survey_schedule(programme=programme, changed_by=None, active=False)

    result = tick(OPENS)

    assert result.outcomes == {f"stopped:{SessionStopReason.SCHEDULE_OFF}": 1}
    session = session_of(enrolment)
    assert (session.state, session.stop_reason) == (
        SessionState.STOPPED,
        SessionStopReason.SCHEDULE_OFF,
    )
    assert survey_sms(enrolment) == []


def test_a_schedule_turned_off_sends_an_open_session_no_reminder() -> None:
    programme, enrolment = _invited(reminder_count=2, reminder_interval_hours=72)
    configure_survey_schedule(programme=programme, changed_by=None, active=False)

    _ticks(OPENS + SIX_HOURS, CLOSES, SIX_HOURS)

    assert prompt_kinds(enrolment) == [PromptKind.INTRO]
    assert session_of(enrolment).state == SessionState.STOPPED


def test_a_schedule_turned_back_on_invites_what_the_switch_off_stopped() -> None:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED)
    with clock(ENROLLED):
        configure_survey_schedule(programme=programme, changed_by=None, active=False)
    tick(OPENS)
    assert session_of(enrolment).state == SessionState.STOPPED

    with clock(OPENS + HOUR):
        configure_survey_schedule(programme=programme, changed_by=None, active=True)
    result = tick(OPENS + HOUR)

    assert result.outcomes == {"invited": 1}
    assert prompt_kinds(enrolment) == [PromptKind.INTRO]


def test_a_schedule_turned_back_on_reminds_an_open_session_it_stopped() -> None:
    programme, enrolment = _invited(reminder_count=2, reminder_interval_hours=72)
    stopped_at = OPENS + 2 * HOUR  # 13:00 in Edmonton
    with clock(stopped_at):
        configure_survey_schedule(programme=programme, changed_by=None, active=False)
    assert session_of(enrolment).next_action_at == stopped_at  # looked at again at once
    tick(stopped_at)
    assert session_of(enrolment).state == SessionState.STOPPED

    with clock(stopped_at + 2 * HOUR):
        configure_survey_schedule(programme=programme, changed_by=None, active=True)
    tick(stopped_at + 2 * HOUR)

    assert prompt_kinds(enrolment) == [PromptKind.INTRO, PromptKind.REMINDER]
    assert session_of(enrolment).state == SessionState.INVITED


# Completion metrics --------------------------------------------------------------------

METRIC_ARMS = (
    ArmSpec("peer", "Peer support", True, False, False),
    ArmSpec("care", "Usual care", False, False, False),
)


def _enrol_in(programme: Programme, arm: str, **kwargs: object) -> Enrolment:
    """Enrol (at ENROLLED) until the draw gives `arm`; other draws are withdrawn at once, and
    the schedule is configured afterwards, so they have no sessions to count."""
    for _ in range(50):
        with clock(ENROLLED):
            enrolment = enrol(programme, peer_support=None, **kwargs)  # type: ignore[arg-type]
            if enrolment.arm.code == arm:
                return enrolment
            end_enrolment(enrolment=enrolment, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    raise AssertionError(f"allocation never gave {arm}")


def _answer_all(client: Client, enrolment: Enrolment, when: dt.datetime) -> None:
    for _ in range(PHQ9_ITEMS):
        assert reply(client, enrolment, "0", when) == "handled"


def _daily(first: dt.datetime, days: int) -> Iterator[dt.datetime]:
    for n in range(days):
        yield first + dt.timedelta(days=n)


def _row(
    timepoint: str,
    arm: str,
    sessions: int,
    sent: int,
    started: int,
    completed: int,
    expired: int,
    reminders_sent: int,
    median_hours: float | None,
) -> CompletionRow:
    return CompletionRow(
        timepoint=timepoint,
        arm=arm,
        instrument="phq9",
        sessions=sessions,
        sent=sent,
        started=started,
        completed=completed,
        expired=expired,
        reminders_sent=reminders_sent,
        median_hours_to_complete=median_hours,
    )


def test_completion_metrics_count_each_arm_and_timepoint(client: Client) -> None:
    """Two arms, two timepoints, four people, by hand:

    baseline (opens 1 Dec 18:00 UTC): A1 answers all 2 h after the invitation; A2 answers one
    item on 2 Dec and no more (reminders on 5 and 8 Dec, expires); B1 answers all on 4 Dec at
    22:00, 4 h after its one reminder (76 h); B2 has no SMS and no thread (never sent).
    week 6 (opens 12 Jan 18:00 UTC): A1 answers all in 4 h, A2 in 1 h; B1 never answers (two
    reminders, expires); B2 never sent again.
    """
    programme = make_programme(arms=METRIC_ARMS)
    a1 = _enrol_in(programme, "peer")
    a2 = _enrol_in(programme, "peer")
    b1 = _enrol_in(programme, "care")
    _enrol_in(programme, "care", sms_consent=False)  # B2
    with clock(ENROLLED):
        configure_survey_schedule(
            programme=programme,
            changed_by=None,
            timepoints=[
                TimepointSpec("baseline", "Baseline", 0, 14, ("phq9",)),
                TimepointSpec("week6", "6 weeks", 42, 14, ("phq9",)),
            ],
            reminder_count=2,
            reminder_interval_hours=72,
        )

    for day in _daily(OPENS, 15):  # baseline: 1 to 15 December
        tick(day)
        if day == OPENS:
            _answer_all(client, a1, day + 2 * HOUR)
        if day == OPENS + dt.timedelta(days=1):
            assert reply(client, a2, "0", day) == "handled"
        if day == OPENS + dt.timedelta(days=3):
            _answer_all(client, b1, day + 4 * HOUR)
    week6 = utc("2027-01-12T18:00")
    for day in _daily(week6, 15):  # week 6: 12 to 26 January
        tick(day)
        if day == week6:
            _answer_all(client, a1, day + 4 * HOUR)
            _answer_all(client, a2, day + HOUR)

    rows = completion_metrics(programme)

    # Columns: sessions, sent, started, completed, expired, reminders sent, median hours.
    assert rows == [
        _row("baseline", "care", 2, 1, 1, 1, 1, 1, 76.0),  # B1 in 76 h; B2 never sent
        _row("baseline", "peer", 2, 2, 2, 1, 1, 2, 2.0),  # A1 in 2 h; A2 started, expired
        _row("week6", "care", 2, 1, 0, 0, 2, 2, None),  # B1 reminded twice, expired
        _row("week6", "peer", 2, 2, 2, 2, 0, 0, 2.5),  # median of 4 h and 1 h
    ]


# Two dispatchers at once (PostgreSQL) --------------------------------------------------


@pytest.fixture
def sends_queued_not_run() -> Iterator[None]:
    """The SMS tasks go to the (in-memory) broker instead of running in the dispatcher's
    thread: what is tested is the dispatch, and hundreds of provider calls would only slow
    it (as in tests/scheduling/test_concurrent_dispatch.py)."""
    from peerlink.celery import app

    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True


def _due_people(count: int, instruments: Sequence[str], *, programmes: int = 1) -> None:
    """`count` people, each enrolled (at ENROLLED, by SMS) in each of `programmes` programmes
    whose baseline asks `instruments`: all due at OPENS."""
    with clock(ENROLLED):
        timepoints = [TimepointSpec("baseline", "Baseline", 0, 14, tuple(instruments))]
        each = [
            survey_programme(slug=f"trial{n}", timepoints=timepoints) for n in range(programmes)
        ]
        for _ in range(count):
            phone = fictional_phone()
            for programme in each:
                enrol(programme, phone=phone, peer_support=None)


def _open_sms_sessions_per_person() -> Counter[object]:
    return Counter(
        SurveySession.objects.filter(
            channel=SurveyChannel.SMS, state=SessionState.INVITED
        ).values_list("enrolment__participant_id", flat=True)
    )


if using_postgres():
    # Row locks (SELECT ... FOR UPDATE SKIP LOCKED) are what is tested: SQLite has one writer
    # at a time and proves nothing here. Collected only with PEERLINK_TEST_DB=postgres, as
    # the postgres-marked tests of tests/scheduling/test_concurrent_dispatch.py run.
    PEOPLE = 240
    PAIRS = 100  # people with two sessions each

    @pytest.mark.postgres
    def test_two_dispatchers_invite_each_of_hundreds_of_due_sessions_exactly_once(
        transactional_db: None, sends_queued_not_run: None
    ) -> None:
        _due_people(PEOPLE, ["phq9"])
        assert SurveySession.objects.filter(next_action_at__lte=OPENS).count() == PEOPLE

        first, second = at_once(
            lambda: dispatch_surveys(now=OPENS, batch=20),
            lambda: dispatch_surveys(now=OPENS, batch=20),
        )

        assert first.outcomes["invited"] > 0 and second.outcomes["invited"] > 0
        assert first.outcomes + second.outcomes == Counter({"invited": PEOPLE})
        intros = SurveyPrompt.objects.filter(kind=PromptKind.INTRO)
        per_session = Counter(intros.values_list("session_id", flat=True))
        assert len(per_session) == PEOPLE  # no session missed
        assert set(per_session.values()) == {1}  # none invited twice
        assert SurveyPrompt.objects.count() == PEOPLE
        assert SmsOutbox.objects.filter(template=OutboxTemplate.SURVEY).count() == PEOPLE
        assert not SurveySession.objects.exclude(state=SessionState.INVITED).exists()
        assert dispatch_surveys(now=OPENS).handled == 0

    @pytest.mark.postgres
    def test_two_dispatchers_open_one_sms_survey_per_person_when_a_timepoint_asks_two(
        transactional_db: None, sends_queued_not_run: None
    ) -> None:
        """By SMS one survey at a time, in the timepoint's order: each person is invited to
        the PHQ-9 and their GAD-7 waits, however the two dispatchers split the rows."""
        _due_people(PAIRS, ["phq9", "gad7"])

        at_once(
            lambda: dispatch_surveys(now=OPENS, batch=10),
            lambda: dispatch_surveys(now=OPENS, batch=10),
        )

        per_person = _open_sms_sessions_per_person()
        assert len(per_person) == PAIRS
        assert set(per_person.values()) == {1}
        invited = SurveySession.objects.filter(state=SessionState.INVITED)
        assert set(invited.values_list("instrument_slug", flat=True)) == {"phq9"}
        assert SurveySession.objects.filter(state=SessionState.PLANNED).count() == PAIRS

    def each_batch_waits_for_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
        """Each dispatcher, once it has handled its session (the real handling, not yet
        committed), holds its batch open until the other has handled its own: the two decide
        at the same time, whatever the threads' timing. A dispatcher kept out by a lock gives
        up waiting after a few seconds and carries on."""
        handled = [threading.Event(), threading.Event()]
        turn = threading.local()
        numbers = itertools.count()
        guard = threading.Lock()
        real_handle = dispatch_module._handle

        def handle_then_wait(session: SurveySession, *, now: dt.datetime) -> str:
            if not hasattr(turn, "index"):
                with guard:
                    turn.index = next(numbers)
            outcome = real_handle(session, now=now)
            handled[turn.index].set()
            handled[1 - turn.index].wait(timeout=5)
            return outcome

        monkeypatch.setattr(dispatch_module, "_handle", handle_then_wait)

    @pytest.mark.postgres
    def test_two_dispatchers_open_one_sms_survey_for_a_person_in_two_programmes(
        transactional_db: None, sends_queued_not_run: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The same person in two programmes, both baselines due at once, each held by one of
        two dispatchers: one SMS survey is open at a time (an answer texted in goes to one
        session, outcomes/selectors.open_sms_session), and the other waits."""
        _due_people(1, ["phq9"], programmes=2)
        each_batch_waits_for_the_other(monkeypatch)

        first, second = at_once(
            lambda: dispatch_surveys(now=OPENS, batch=1, max_batches=1),
            lambda: dispatch_surveys(now=OPENS, batch=1, max_batches=1),
        )

        assert first.handled == second.handled == 1  # each held one of the two
        assert first.outcomes + second.outcomes == Counter({"invited": 1, "waiting": 1})
        assert list(_open_sms_sessions_per_person().values()) == [1]
        assert SurveyPrompt.objects.filter(kind=PromptKind.INTRO).count() == 1
