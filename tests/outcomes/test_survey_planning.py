"""Survey schedules and the sessions they plan (issue 8 item 2; DESIGN.md §3, data flow 5).

Proves that a programme's schedule plans one session per timepoint and instrument for each
live enrolment, once (configuring or planning again adds nothing), and for enrolments made
later; that an arm without surveys gets none; that bad schedule input is refused with a clear
error and writes nothing; that a session opens at the schedule's send time on the person's
own local date plus the offset, DST-correct (a gap moves to the first valid minute, a repeated
hour takes its first occurrence), at enrolment for a baseline whose send time has passed (out
of quiet hours), and closes `window_days` later; and that a change of the person's time zone
moves the sessions not yet open, never the open ones. All names and numbers are fictional.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audit.models import AuditEntry
from outcomes.models import SessionState, SurveySchedule, SurveySession, SurveyTimepoint
from outcomes.services import (
    TimepointSpec,
    configure_survey_schedule,
    default_timepoints,
    plan_surveys,
)
from peerlink.errors import DomainError
from people.services import update_timing_preferences
from programmes.models import Arm, Enrolment, EnrolmentStatus, Programme
from programmes.services import ArmSpec, end_enrolment
from tests.outcomes.surveys import SURVEYS_ONLY, enrol_at, sessions_of, survey_programme, tick
from tests.scheduling.texts import clock, utc
from tests.support.factories import make_programme

pytestmark = pytest.mark.django_db

DEFAULT_CODES = ["baseline", "week6", "month3", "month6", "month12"]
NO_QUIET = {"quiet_hours_start": dt.time(0, 0), "quiet_hours_end": dt.time(0, 0)}


def _configure(programme: Programme, timepoints: list[TimepointSpec], **fields: Any) -> None:
    configure_survey_schedule(programme=programme, changed_by=None, timepoints=timepoints, **fields)


def _asks(enrolment: Enrolment) -> list[tuple[str, str]]:
    return [(s.timepoint.code, s.instrument_slug) for s in sessions_of(enrolment)]


def _opens(enrolment: Enrolment) -> dict[str, dt.datetime]:
    return {s.timepoint.code: s.opens_at for s in sessions_of(enrolment)}


def _without_quiet_hours(enrolment: Enrolment) -> None:
    update_timing_preferences(
        participant=enrolment.participant,
        changed_by=None,
        quiet_hours_start=dt.time(0, 0),
        quiet_hours_end=dt.time(0, 0),
    )


# Planning ------------------------------------------------------------------------------


def test_a_schedule_plans_a_session_per_timepoint_and_instrument_for_live_enrolments() -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    first = enrol_at(programme, "2026-12-01T17:00")
    second = enrol_at(programme, "2026-12-01T17:05")

    _configure(programme, default_timepoints(["phq9", "gad7"]))

    expected = [(code, slug) for code in DEFAULT_CODES for slug in ("phq9", "gad7")]
    assert _asks(first) == expected
    assert _asks(second) == expected
    assert {s.state for s in sessions_of(first) + sessions_of(second)} == {SessionState.PLANNED}


def test_an_ended_enrolment_gets_no_sessions_when_the_schedule_is_configured() -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    ended = enrol_at(programme, "2026-12-01T17:00")
    end_enrolment(enrolment=ended, status=EnrolmentStatus.WITHDRAWN, ended_by=None)

    _configure(programme, default_timepoints(["phq9"]))

    assert sessions_of(ended) == []


def test_configuring_the_same_schedule_again_creates_no_duplicate_sessions() -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    _configure(programme, default_timepoints(["phq9"]))
    before = {(s.pk, s.opens_at) for s in sessions_of(enrolment)}

    _configure(programme, default_timepoints(["phq9"]))

    assert {(s.pk, s.opens_at) for s in sessions_of(enrolment)} == before
    assert len(before) == 5
    assert SurveyTimepoint.objects.filter(schedule__programme=programme).count() == 5


def test_planning_an_enrolment_twice_adds_nothing_the_second_time() -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    _configure(programme, default_timepoints(["phq9"]))

    again = [plan_surveys(enrolment=enrolment), plan_surveys(enrolment=enrolment)]

    assert again == [0, 0]
    assert SurveySession.objects.filter(enrolment=enrolment).count() == 5


def test_an_enrolment_made_after_the_schedule_exists_gets_its_sessions_on_enrolment() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))

    enrolment = enrol_at(programme, "2026-12-01T17:00")

    assert _asks(enrolment) == [(code, "phq9") for code in DEFAULT_CODES]


def test_a_timepoint_added_later_is_planned_for_enrolments_already_there() -> None:
    programme = survey_programme(timepoints=[TimepointSpec("baseline", "B", 0, 14, ("phq9",))])
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    (baseline,) = sessions_of(enrolment)

    _configure(programme, [TimepointSpec("week6", "6 weeks", 42, 14, ("phq9",))])

    assert _asks(enrolment) == [("baseline", "phq9"), ("week6", "phq9")]
    assert sessions_of(enrolment)[0].pk == baseline.pk


def test_an_arm_without_surveys_gets_no_sessions() -> None:
    arms = (ArmSpec("texts_only", "Supportive texts", False, True, True),)
    programme = make_programme(arms=arms)
    Arm.objects.filter(programme=programme).update(surveys=False)
    earlier = enrol_at(programme, "2026-12-01T17:00")
    _configure(programme, default_timepoints(["phq9"]))

    later = enrol_at(programme, "2026-12-01T18:00")

    assert sessions_of(earlier) == []
    assert sessions_of(later) == []
    assert SurveySession.objects.count() == 0


# Bad input -----------------------------------------------------------------------------

BAD_SCHEDULES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown instrument": (
        {"timepoints": [TimepointSpec("baseline", "B", 0, 14, ("phq9", "no-such-scale"))]},
        "no-such-scale",
    ),
    "repeated timepoint code": (
        {
            "timepoints": [
                TimepointSpec("baseline", "B", 0, 14, ("phq9",)),
                TimepointSpec("baseline", "Again", 42, 14, ("phq9",)),
            ]
        },
        "unique",
    ),
    "timepoint with no instrument": (
        {"timepoints": [TimepointSpec("baseline", "B", 0, 14, ())]},
        "baseline",
    ),
    "instrument named twice": (
        {"timepoints": [TimepointSpec("baseline", "B", 0, 14, ("phq9", "phq9"))]},
        "baseline",
    ),
    "window of no days": (
        {"timepoints": [TimepointSpec("baseline", "B", 0, 0, ("phq9",))]},
        "baseline",
    ),
    "negative offset": (
        {"timepoints": [TimepointSpec("before", "Before", -7, 14, ("phq9",))]},
        "before",
    ),
    "reminders no time apart": (
        {"timepoints": default_timepoints(["phq9"]), "reminder_interval_hours": 0},
        "an hour apart",
    ),
    "too many reminders": (
        {"timepoints": default_timepoints(["phq9"]), "reminder_count": 50},
        "reminders",
    ),
    "unknown field": (
        {"timepoints": default_timepoints(["phq9"]), "reminder_every": 3},
        "reminder_every",
    ),
    "unknown channel rule": (
        {"timepoints": default_timepoints(["phq9"]), "channel_rule": "carrier-pigeon"},
        "channel rule",
    ),
}


@pytest.mark.parametrize("case", BAD_SCHEDULES, ids=list(BAD_SCHEDULES))
def test_a_bad_schedule_is_refused_with_a_clear_error_and_nothing_is_written(case: str) -> None:
    arguments, named = BAD_SCHEDULES[case]
    programme = make_programme(arms=SURVEYS_ONLY)
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    audit_before = AuditEntry.objects.count()

    with pytest.raises(DomainError) as refused:
        configure_survey_schedule(programme=programme, changed_by=None, **arguments)

    assert refused.value.code == "invalid_survey_schedule"
    assert named in refused.value.message
    assert not SurveySchedule.objects.filter(programme=programme).exists()
    assert not SurveyTimepoint.objects.exists()
    assert sessions_of(enrolment) == []
    assert AuditEntry.objects.count() == audit_before


def test_a_refused_change_leaves_the_existing_schedule_and_its_sessions_as_they_were() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]), reminder_count=2)
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    sessions_before = [(s.pk, s.opens_at, s.closes_at) for s in sessions_of(enrolment)]

    with pytest.raises(DomainError):
        configure_survey_schedule(
            programme=programme,
            changed_by=None,
            reminder_count=5,
            timepoints=[TimepointSpec("month24", "2 years", 730, 28, ("no-such-scale",))],
        )

    schedule = SurveySchedule.objects.get(programme=programme)
    assert schedule.reminder_count == 2
    assert list(schedule.timepoints.values_list("code", flat=True)) == DEFAULT_CODES
    assert [(s.pk, s.opens_at, s.closes_at) for s in sessions_of(enrolment)] == sessions_before


# When a session opens and closes -------------------------------------------------------


def test_sessions_open_at_the_send_time_on_the_local_enrolment_date_plus_the_offset() -> None:
    """Edmonton: MST (UTC-7) in winter, MDT (UTC-6) from 14 March 2027."""
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))

    enrolment = enrol_at(programme, "2026-12-01T17:00")  # 10:00 local, before 11:00

    assert _opens(enrolment) == {
        "baseline": utc("2026-12-01T18:00"),
        "week6": utc("2027-01-12T18:00"),
        "month3": utc("2027-03-02T18:00"),
        "month6": utc("2027-06-01T17:00"),
        "month12": utc("2027-12-01T18:00"),
    }


def test_each_session_closes_its_window_days_after_it_opens() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))

    enrolment = enrol_at(programme, "2026-12-01T17:00")

    windows = {s.timepoint.code: s.closes_at - s.opens_at for s in sessions_of(enrolment)}
    assert windows == {
        "baseline": dt.timedelta(days=14),
        "week6": dt.timedelta(days=14),
        "month3": dt.timedelta(days=21),
        "month6": dt.timedelta(days=21),
        "month12": dt.timedelta(days=28),
    }


def test_the_local_date_of_enrolment_is_the_persons_not_utcs() -> None:
    """22:30 in Edmonton on 1 December is 2 December in UTC: the offsets count from the 1st."""
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))

    enrolment = enrol_at(programme, "2026-12-02T05:30")

    assert _opens(enrolment)["week6"] == utc("2027-01-12T18:00")


def test_sessions_of_a_person_in_london_open_at_the_send_time_in_london() -> None:
    """London: GMT in winter, BST (UTC+1) from 28 March 2027; week 6 falls after the change."""
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))

    enrolment = enrol_at(programme, "2027-02-15T09:00", time_zone="Europe/London")

    opens = _opens(enrolment)
    assert opens["baseline"] == utc("2027-02-15T11:00")
    assert opens["week6"] == utc("2027-03-29T10:00")


@pytest.mark.parametrize(
    ("time_zone", "enrolled", "send_time", "opens"),
    [
        # Edmonton springs from 02:00 to 03:00 on 14 March 2027 (03:00 MDT is 09:00 UTC).
        ("America/Edmonton", "2027-03-04T17:00", dt.time(2, 30), "2027-03-14T09:00"),
        # London springs from 01:00 to 02:00 on 28 March 2027 (02:00 BST is 01:00 UTC).
        ("Europe/London", "2027-03-18T12:00", dt.time(1, 30), "2027-03-28T01:00"),
    ],
    ids=["edmonton", "london"],
)
def test_a_send_time_in_the_spring_forward_gap_moves_to_the_first_valid_minute(
    time_zone: str, enrolled: str, send_time: dt.time, opens: str
) -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    enrolment = enrol_at(programme, enrolled, time_zone=time_zone)
    _without_quiet_hours(enrolment)

    _configure(
        programme,
        [TimepointSpec("day10", "Day 10", 10, 7, ("phq9",))],
        send_time=send_time,
        **NO_QUIET,
    )

    (session,) = sessions_of(enrolment)
    assert session.opens_at == utc(opens)
    assert session.next_action_at == utc(opens)


@pytest.mark.parametrize(
    ("time_zone", "enrolled", "offset", "opens"),
    [
        # Edmonton falls back from 02:00 MDT to 01:00 MST on 7 November 2027: 01:30 happens
        # at 07:30 UTC (MDT) and again at 08:30 UTC (MST).
        ("America/Edmonton", "2027-11-01T18:00", 6, "2027-11-07T07:30"),
        # London falls back from 02:00 BST to 01:00 GMT on 31 October 2027: 01:30 happens at
        # 00:30 UTC (BST) and again at 01:30 UTC (GMT).
        ("Europe/London", "2027-10-25T12:00", 6, "2027-10-31T00:30"),
    ],
    ids=["edmonton", "london"],
)
def test_a_send_time_in_the_repeated_fall_back_hour_takes_its_first_occurrence(
    time_zone: str, enrolled: str, offset: int, opens: str
) -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    enrolment = enrol_at(programme, enrolled, time_zone=time_zone)
    _without_quiet_hours(enrolment)

    _configure(
        programme,
        [TimepointSpec("day6", "Day 6", offset, 7, ("phq9",))],
        send_time=dt.time(1, 30),
        **NO_QUIET,
    )

    (session,) = sessions_of(enrolment)
    assert session.opens_at == utc(opens)


def test_a_baseline_whose_send_time_has_passed_opens_at_enrolment() -> None:
    programme = survey_programme()

    enrolment = enrol_at(programme, "2026-12-01T20:00")  # 13:00 local, after 11:00

    (session,) = sessions_of(enrolment)
    assert session.opens_at == enrolment.enrolled_at == utc("2026-12-01T20:00")
    assert session.closes_at == utc("2026-12-15T20:00")


def test_a_baseline_for_someone_enrolled_at_night_opens_when_the_quiet_hours_end() -> None:
    programme = survey_programme()

    enrolment = enrol_at(programme, "2026-12-02T05:00")  # 22:00 local on 1 December

    (session,) = sessions_of(enrolment)
    assert session.opens_at == utc("2026-12-02T15:00")  # 08:00 local on 2 December
    assert session.closes_at == utc("2026-12-16T15:00")


def test_a_baseline_is_kept_out_of_the_persons_own_quiet_hours() -> None:
    programme = make_programme(arms=SURVEYS_ONLY)
    enrolment = enrol_at(programme, "2026-12-01T16:00")  # 09:00 local
    update_timing_preferences(
        participant=enrolment.participant,
        changed_by=None,
        quiet_hours_start=dt.time(10, 0),
        quiet_hours_end=dt.time(12, 30),
    )

    _configure(programme, [TimepointSpec("baseline", "B", 0, 14, ("phq9",))])

    (session,) = sessions_of(enrolment)
    assert session.opens_at == utc("2026-12-01T19:30")  # 12:30 local


# A change of time zone -----------------------------------------------------------------


def _moved_to_london(enrolment: Enrolment) -> None:
    with clock("2026-12-02T18:00"):
        update_timing_preferences(
            participant=enrolment.participant, changed_by=None, time_zone="Europe/London"
        )


def test_a_change_of_time_zone_moves_the_sessions_not_yet_open() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    tick("2026-12-01T18:00")  # the baseline opens

    _moved_to_london(enrolment)

    week6 = next(s for s in sessions_of(enrolment) if s.timepoint.code == "week6")
    assert week6.state == SessionState.PLANNED
    assert week6.opens_at == week6.next_action_at == utc("2027-01-12T11:00")
    assert week6.closes_at == utc("2027-01-26T11:00")
    assert _opens(enrolment)["month6"] == utc("2027-06-01T10:00")  # 11:00 BST


def test_a_change_of_time_zone_leaves_an_open_session_where_it_is() -> None:
    programme = survey_programme(timepoints=default_timepoints(["phq9"]))
    enrolment = enrol_at(programme, "2026-12-01T17:00")
    tick("2026-12-01T18:00")
    opened = sessions_of(enrolment)[0]
    assert opened.state == SessionState.INVITED

    _moved_to_london(enrolment)

    after = sessions_of(enrolment)[0]
    assert after.state == SessionState.INVITED
    assert (after.opens_at, after.closes_at, after.next_action_at) == (
        utc("2026-12-01T18:00"),
        utc("2026-12-15T18:00"),
        opened.next_action_at,
    )
