"""Replanning scheduled texts (issue 7): a person's move to another time zone or new quiet
hours, and a change of the programme's schedule, recompute the next send at once, and a slot
already handled is never handed out again; daily sends keep their local time across the
daylight-saving transitions (America/Edmonton and Europe/London, 2027); `configure_schedule`
refuses bad input with a clear code and writes nothing.

The clock stands still at explicit UTC instants; texts are fictional."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from audit.models import AuditEntry
from peerlink.errors import DomainError
from people.services import update_timing_preferences
from programmes.models import Enrolment
from scheduling.models import (
    PendingSend,
    ProgrammeSchedule,
    SendOutcome,
    SendState,
    StopReason,
)
from scheduling.services import (
    configure_schedule,
    create_reminder,
    pause_texts,
    plan_programme,
)
from tests.scheduling.texts import (
    clock,
    dispatch,
    enrol_for_texts,
    library,
    sent_at,
    sent_texts,
    supervisor,
    supportive,
    text_programme,
    utc,
)
from tests.support.factories import make_programme

pytestmark = pytest.mark.django_db

EDMONTON = "America/Edmonton"
LONDON = "Europe/London"
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)

# Monday 2027-01-04, 11:00 in Edmonton (UTC-7); London is on UTC in January.
ENROLLED = "2027-01-04T18:00"


def text(n: int) -> str:
    return f"Fictional general text {n} (en)."


def enrolled(time_zone: str = EDMONTON, at: str = ENROLLED, **schedule: Any) -> Enrolment:
    with clock(at):
        return enrol_for_texts(text_programme(**schedule), time_zone=time_zone)


def move(enrolment: Enrolment, at: str, **preferences: Any) -> None:
    with clock(at):
        update_timing_preferences(participant=enrolment.participant, changed_by=None, **preferences)


def local_times(moments: list[dt.datetime], time_zone: str) -> list[str]:
    return [m.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M") for m in moments]


# --- A person's time zone and quiet hours ---------------------------------------------------------


def test_a_move_from_edmonton_to_london_moves_the_next_send_to_ten_in_london() -> None:
    enrolment = enrolled()
    assert supportive(enrolment).due_at == utc("2027-01-05T17:00")

    move(enrolment, "2027-01-04T20:00", time_zone=LONDON)

    row = supportive(enrolment)
    assert row.due_at == utc("2027-01-05T10:00")
    assert dispatch("2027-01-05T10:00").outcomes == Counter({SendOutcome.SENT: 1})
    assert dispatch("2027-01-05T17:00").handled == 0


def test_a_move_east_after_the_days_send_sends_one_text_a_day_from_then_on() -> None:
    enrolment = enrolled()
    dispatch("2027-01-05T17:00")  # 10:00 in Edmonton, 17:00 in London

    move(enrolment, "2027-01-05T17:30", time_zone=LONDON)

    assert supportive(enrolment).due_at == utc("2027-01-06T10:00")
    moment = utc("2027-01-05T18:00")
    while moment <= utc("2027-01-07T23:00"):
        dispatch(moment)
        moment += HOUR
    assert local_times(sent_at(enrolment), LONDON) == [
        "2027-01-05 17:00",
        "2027-01-06 10:00",
        "2027-01-07 10:00",
    ]


def test_a_move_west_never_sends_the_slot_already_handled_that_local_day_again() -> None:
    enrolment = enrolled(time_zone=LONDON, at="2027-01-04T12:00")
    dispatch("2027-01-05T10:00")  # 10:00 in London on the 5th

    # 03:30 on the 5th in Edmonton: its 10:00 that day is still to come, but was handled.
    move(enrolment, "2027-01-05T10:30", time_zone=EDMONTON)

    assert supportive(enrolment).due_at == utc("2027-01-06T17:00")
    assert dispatch("2027-01-05T17:00").handled == 0
    assert dispatch("2027-01-06T17:00").outcomes == Counter({SendOutcome.SENT: 1})
    assert sent_texts(enrolment) == [text(1), text(2)]


def test_a_later_end_of_the_persons_quiet_hours_moves_the_send() -> None:
    enrolment = enrolled()

    move(enrolment, "2027-01-04T20:00", quiet_hours_end=dt.time(11, 0))

    assert supportive(enrolment).due_at == utc("2027-01-05T18:00")  # 11:00 local
    assert dispatch("2027-01-05T17:00").handled == 0
    assert dispatch("2027-01-05T18:00").outcomes == Counter({SendOutcome.SENT: 1})


def test_an_unchanged_preference_replans_nothing() -> None:
    enrolment = enrolled()
    before = supportive(enrolment).updated_at

    move(enrolment, "2027-01-04T20:00", time_zone=EDMONTON)

    assert supportive(enrolment).updated_at == before


# --- The programme's schedule ---------------------------------------------------------------------


def test_changing_the_send_time_replans_every_enrolment() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        edmonton = enrol_for_texts(programme, time_zone=EDMONTON)
        london = enrol_for_texts(programme, time_zone=LONDON)

    with clock("2027-01-04T20:00"):
        configure_schedule(programme=programme, changed_by=None, send_times=["14:00"])

    assert supportive(edmonton).due_at == utc("2027-01-05T21:00")
    assert supportive(london).due_at == utc("2027-01-05T14:00")
    assert dispatch("2027-01-05T14:00").outcomes == Counter({SendOutcome.SENT: 1})
    assert dispatch("2027-01-05T17:00").handled == 0
    assert dispatch("2027-01-05T21:00").outcomes == Counter({SendOutcome.SENT: 1})
    assert sent_at(london) == [utc("2027-01-05T14:00")]
    assert sent_at(edmonton) == [utc("2027-01-05T21:00")]


def test_longer_programme_quiet_hours_move_a_reminder_to_their_end() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        enrolment = enrol_for_texts(programme)
        reminder = create_reminder(
            enrolment=enrolment,
            kind="medication",
            body="Fictional morning tablets.",
            local_time=dt.time(8, 30),
            first_date=dt.date(2027, 1, 5),
            created_by=None,
        )
    with clock("2027-01-04T20:00"):
        configure_schedule(programme=programme, changed_by=None, quiet_hours_end=dt.time(9, 0))
    row = PendingSend.objects.get(reminder=reminder)
    # 08:30 is now quiet: the reminder moves to 09:00 local (16:00 UTC), it is not lost.
    assert row.due_at == utc("2027-01-05T16:00")


def test_turning_the_schedule_off_stops_every_stream_with_schedule_off() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        people = [enrol_for_texts(programme) for _ in range(2)]

    with clock("2027-01-04T20:00"):
        configure_schedule(programme=programme, changed_by=None, active=False)

    for enrolment in people:
        row = supportive(enrolment)
        assert (row.state, row.stop_reason, row.due_at) == (
            SendState.STOPPED,
            StopReason.SCHEDULE_OFF,
            None,
        )
    assert dispatch("2027-01-05T17:00").handled == 0


def test_turning_the_schedule_on_again_replans_the_streams_from_now() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        enrolment = enrol_for_texts(programme)
    dispatch("2027-01-05T17:00")
    with clock("2027-01-05T20:00"):
        configure_schedule(programme=programme, changed_by=None, active=False)

    with clock("2027-01-07T19:00"):  # 12:00 local, two days on
        configure_schedule(programme=programme, changed_by=None, active=True)

    row = supportive(enrolment)
    assert (row.state, row.stop_reason, row.due_at) == (
        SendState.SCHEDULED,
        StopReason.NONE,
        utc("2027-01-08T17:00"),
    )
    dispatch("2027-01-08T17:00")
    assert sent_texts(enrolment) == [text(1), text(2)]


# --- Daylight saving time -------------------------------------------------------------------------

DST_RUNS = {
    # time zone, enrolled at (UTC), the 10:00 sends in UTC: the transition is on the third day.
    "edmonton-spring-forward": (
        EDMONTON,
        "2027-03-11T18:00",
        ["2027-03-12T17:00", "2027-03-13T17:00", "2027-03-14T16:00", "2027-03-15T16:00"],
    ),
    "edmonton-fall-back": (
        EDMONTON,
        "2027-11-04T18:00",
        ["2027-11-05T16:00", "2027-11-06T16:00", "2027-11-07T17:00", "2027-11-08T17:00"],
    ),
    "london-spring-forward": (
        LONDON,
        "2027-03-25T12:00",
        ["2027-03-26T10:00", "2027-03-27T10:00", "2027-03-28T09:00", "2027-03-29T09:00"],
    ),
    "london-fall-back": (
        LONDON,
        "2027-10-28T12:00",
        ["2027-10-29T09:00", "2027-10-30T09:00", "2027-10-31T10:00", "2027-11-01T10:00"],
    ),
}


@pytest.mark.parametrize(("time_zone", "enrolled_at", "sends"), DST_RUNS.values(), ids=DST_RUNS)
def test_a_daily_ten_oclock_text_keeps_its_local_time_across_a_dst_transition(
    time_zone: str, enrolled_at: str, sends: list[str]
) -> None:
    enrolment = enrolled(time_zone=time_zone, at=enrolled_at)

    for due in map(utc, sends):
        assert supportive(enrolment).due_at == due
        assert dispatch(due - MINUTE).handled == 0
        assert dispatch(due).outcomes == Counter({SendOutcome.SENT: 1})

    assert sent_at(enrolment) == [utc(s) for s in sends]
    assert {t[-5:] for t in local_times(sent_at(enrolment), time_zone)} == {"10:00"}


def no_quiet_hours(time_zone: str, enrolled_at: str, send_time: str) -> Enrolment:
    """A person and a programme without quiet hours, so that a night-time send stays put."""
    midnight = dt.time(0, 0)
    enrolment = enrolled(
        time_zone=time_zone,
        at=enrolled_at,
        send_times=[send_time],
        quiet_hours_start=midnight,
        quiet_hours_end=midnight,
    )
    move(enrolment, enrolled_at, quiet_hours_start=midnight, quiet_hours_end=midnight)
    return enrolment


def test_a_0230_send_on_the_spring_forward_day_goes_at_0300_local() -> None:
    # Edmonton's clocks jump from 02:00 MST to 03:00 MDT on 2027-03-14: 02:30 never happens.
    enrolment = no_quiet_hours(EDMONTON, "2027-03-12T18:00", "02:30")
    sends = [utc("2027-03-13T09:30"), utc("2027-03-14T09:00"), utc("2027-03-15T08:30")]

    for due in sends:
        assert supportive(enrolment).due_at == due
        assert dispatch(due).outcomes == Counter({SendOutcome.SENT: 1})

    assert local_times(sent_at(enrolment), EDMONTON) == [
        "2027-03-13 02:30",
        "2027-03-14 03:00",
        "2027-03-15 02:30",
    ]


def test_a_send_in_londons_spring_gap_goes_at_the_first_minute_after_it() -> None:
    # London's clocks jump from 01:00 GMT to 02:00 BST on 2027-03-28.
    enrolment = no_quiet_hours(LONDON, "2027-03-26T12:00", "01:30")

    assert supportive(enrolment).due_at == utc("2027-03-27T01:30")
    dispatch("2027-03-27T01:30")
    assert supportive(enrolment).due_at == utc("2027-03-28T01:00")  # 02:00 BST


def test_a_send_in_the_repeated_hour_of_fall_back_goes_once_at_its_first_occurrence() -> None:
    # Edmonton's clocks go back from 02:00 MDT to 01:00 MST on 2027-11-07: 01:30 happens twice.
    enrolment = no_quiet_hours(EDMONTON, "2027-11-05T18:00", "01:30")
    dispatch("2027-11-06T07:30")
    first = utc("2027-11-07T07:30")  # 01:30 MDT
    assert supportive(enrolment).due_at == first

    dispatch(first)
    dispatch(first + HOUR)  # 01:30 MST, the second time round

    assert sent_at(enrolment) == [utc("2027-11-06T07:30"), first]
    assert supportive(enrolment).due_at == utc("2027-11-08T08:30")


# --- configure_schedule refuses bad input ---------------------------------------------------------

BAD_SCHEDULES = {
    "time-not-a-time": ({"send_times": ["25:00"]}, "invalid_send_times"),
    "time-not-hh-mm": ({"send_times": ["ten"]}, "invalid_send_times"),
    "time-without-a-colon": ({"send_times": ["1000"]}, "invalid_send_times"),
    # A send time is the person's own wall-clock time: a UTC offset has no meaning there.
    "time-with-an-offset": ({"send_times": ["10:00+02:00"]}, "invalid_send_times"),
    "time-with-an-offset-and-no-quiet-hours": (
        {"send_times": ["10:00Z"], "quiet_hours_start": dt.time(0), "quiet_hours_end": dt.time(0)},
        "invalid_send_times",
    ),
    "time-not-a-string": ({"send_times": [1000]}, "invalid_send_times"),
    "times-not-a-list": ({"send_times": "10:00"}, "invalid_send_times"),
    "no-times": ({"send_times": []}, "invalid_send_times"),
    "three-times": ({"send_times": ["09:00", "12:00", "18:00"]}, "invalid_send_times"),
    "same-time-twice": ({"send_times": ["10:00", "10:00"]}, "invalid_send_times"),
    "evening-quiet-hours": ({"send_times": ["22:00"]}, "send_time_in_quiet_hours"),
    "morning-quiet-hours": ({"send_times": ["10:00", "07:30"]}, "send_time_in_quiet_hours"),
    "quiet-hours-over-the-send-time": (
        {"quiet_hours_end": dt.time(11, 0)},
        "send_time_in_quiet_hours",
    ),
    "duration-zero": ({"duration_days": 0}, "invalid_duration"),
    "duration-too-long": ({"duration_days": 3651}, "invalid_duration"),
    "staleness-zero": ({"staleness_minutes": 0}, "invalid_staleness"),
    "unknown-field": ({"colour": "blue"}, "invalid_schedule"),
    "not-settable-field": ({"updated_at": None}, "invalid_schedule"),
}


def written() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    return (
        list(ProgrammeSchedule.objects.order_by("pk").values()),
        list(PendingSend.objects.order_by("pk").values()),
        AuditEntry.objects.count(),
    )


@pytest.mark.parametrize(("fields", "code"), BAD_SCHEDULES.values(), ids=BAD_SCHEDULES)
def test_configure_schedule_refuses_bad_input_and_writes_nothing(
    fields: dict[str, Any], code: str
) -> None:
    with clock(ENROLLED):
        programme = text_programme()
        enrol_for_texts(programme)
    before = written()

    with clock("2027-01-04T20:00"), pytest.raises(DomainError) as refused:
        configure_schedule(programme=programme, changed_by=None, **fields)

    assert refused.value.code == code
    assert written() == before


def test_a_new_schedule_without_a_library_is_refused_and_writes_nothing() -> None:
    with clock(ENROLLED):
        programme = make_programme()
        library()
    audits = AuditEntry.objects.count()

    with clock(ENROLLED), pytest.raises(DomainError) as refused:
        configure_schedule(programme=programme, changed_by=None, send_times=["10:00"])

    assert refused.value.code == "invalid_schedule"
    assert not ProgrammeSchedule.objects.filter(programme=programme).exists()
    assert AuditEntry.objects.count() == audits


def test_planning_a_programme_creates_missing_rows_replans_others_and_leaves_paused_ones() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        kept, missing, paused = (enrol_for_texts(programme) for _ in range(3))
        pause_texts(enrolment=paused, by=supervisor(programme))
    supportive(missing).delete()
    paused_before = supportive(paused)

    with clock("2027-01-04T20:00"):
        counts = plan_programme(programme=programme, chunk=2)

    assert (counts.created, counts.replanned, counts.stopped) == (1, 1, 0)
    assert supportive(kept).due_at == supportive(missing).due_at == utc("2027-01-05T17:00")
    after = supportive(paused)
    assert (after.state, after.due_at, after.updated_at) == (
        SendState.PAUSED,
        paused_before.due_at,
        paused_before.updated_at,
    )
