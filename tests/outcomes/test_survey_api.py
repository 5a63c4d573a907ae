"""The survey API (issue 8 items 6 and 3-4): a programme's completion metrics per timepoint,
arm and instrument; a person's surveys (states, totals and bands, never item answers); and
staff switching a person's SMS survey to a web link, which the next dispatcher tick texts,
keeping the answers already given by SMS and showing them on the form.

Who may call each endpoint is the role matrix's (tests/platform/access/matrix_outcomes.py);
here: the numbers, the payloads, and the refusals that need a session (404 for a session the
caller does not handle, 409 for one that has ended), each changing nothing.

Everyone enrolled on a winter Tuesday at 10:00 in Edmonton (UTC-7); the baseline opens at
11:00 local (18:00 UTC) and closes 14 days later."""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from outcomes.links import survey_url
from outcomes.models import SessionState, SurveyChannel, SurveyLink, SurveySession
from outcomes.services import configure_survey_schedule
from people.models import Channel, User
from programmes.models import Arm, Enrolment, Role
from tests.outcomes.surveys import (
    PEER_SUPPORT,
    SURVEYS_ONLY,
    baseline,
    enrol_at,
    prompt_kinds,
    reply,
    session_of,
    survey_programme,
    tick,
)
from tests.scheduling.texts import clock
from tests.support.factories import World, make_programme, make_staff, make_world, signed_in_client

pytestmark = pytest.mark.django_db

ENROLLED = "2027-01-12T17:00"  # 10:00 in Edmonton
OPENS = "2027-01-12T18:00"  # 11:00 local
CLOSES = "2027-01-26T18:00"
ROW_FIELDS = {
    "timepoint",
    "arm",
    "instrument",
    "sessions",
    "sent",
    "started",
    "completed",
    "expired",
    "reminders_sent",
    "median_hours_to_complete",
}
SESSION_FIELDS = {
    "id",
    "timepoint",
    "instrument",
    "version",
    "channel",
    "state",
    "stop_reason",
    "opens_at",
    "closes_at",
    "invited_at",
    "completed_at",
    "reminders_sent",
    "result",
}


def phq9(*values: int) -> dict[str, str]:
    return {f"phq9_{n}": str(value) for n, value in enumerate(values, start=1)}


def form_path(session: SurveySession) -> str:
    return urllib.parse.urlsplit(survey_url(SurveyLink.objects.get(session=session).pk)).path


def submit_form(session: SurveySession, fields: dict[str, str], when: str) -> None:
    with clock(when):
        response = Client().post(form_path(session), {**fields, "action": "submit"})
    assert response.status_code == 200, response.content[:300]


def get(user: User, url: str, when: str = OPENS) -> Any:
    with clock(when):
        return signed_in_client(user).get(url)


def switch(user: User, session: SurveySession, when: str) -> Any:
    with clock(when):
        return signed_in_client(user).post(
            f"/api/v1/survey-sessions/{session.pk}/web-link/", {}, content_type="application/json"
        )


def world_with_surveys(*instruments: str, **schedule: Any) -> World:
    with clock(ENROLLED):
        world = make_world()
        configure_survey_schedule(
            programme=world.programme,
            changed_by=None,
            timepoints=baseline(*instruments),
            **schedule,
        )
    return world


def in_arm(enrolment: Enrolment, code: str) -> Enrolment:
    """Put the person in arm `code` (allocation is random; retrying it would enrol extra
    people, who would count in the metrics)."""
    Enrolment.objects.filter(pk=enrolment.pk).update(
        arm=Arm.objects.get(programme=enrolment.programme, code=code)
    )
    return Enrolment.objects.get(pk=enrolment.pk)


# Completion metrics ----------------------------------------------------------------------


@dataclass
class MetricsScene:
    evaluator: User
    people: tuple[Enrolment, ...]


@pytest.fixture
def metrics_scene() -> MetricsScene:
    """Three people at baseline, one reminder allowed: A (peer support, web) submits the form
    3 hours after the link; B (peer support, SMS) answers one question, is reminded, and
    lets the window close; C (usual care, SMS) never answers, is reminded, and expires."""
    programme = survey_programme(arms=PEER_SUPPORT + SURVEYS_ONLY, reminder_count=1)
    evaluator = make_staff(programme, Role.EVALUATOR)
    a = in_arm(enrol_at(programme, ENROLLED, channel=Channel.WEB), "peer_support")
    b = in_arm(enrol_at(programme, ENROLLED, channel=Channel.SMS), "peer_support")
    c = in_arm(enrol_at(programme, ENROLLED, channel=Channel.SMS), "usual_care")
    assert tick(OPENS).outcomes["invited"] == 3
    submit_form(session_of(a), phq9(1, 1, 1, 1, 1, 1, 1, 1, 0), "2027-01-12T21:00")
    assert reply(Client(), b, "1", "2027-01-12T18:05") == "handled"
    assert tick("2027-01-16T18:00").outcomes["reminded"] == 2
    assert tick(CLOSES).outcomes == {"expired": 1, "expired_partial": 1}
    return MetricsScene(evaluator, (a, b, c))


def test_completion_metrics_count_each_timepoint_and_arm(
    metrics_scene: MetricsScene,
) -> None:
    response = get(metrics_scene.evaluator, "/api/v1/programmes/trial/survey-metrics/", CLOSES)
    assert response.status_code == 200
    body = response.json()
    assert body["programme"] == "trial"
    assert body["rows"] == [
        {
            "timepoint": "baseline",
            "arm": "peer_support",
            "instrument": "phq9",
            "sessions": 2,
            "sent": 2,
            "started": 2,
            "completed": 1,
            "expired": 1,
            "reminders_sent": 1,
            "median_hours_to_complete": 3.0,
        },
        {
            "timepoint": "baseline",
            "arm": "usual_care",
            "instrument": "phq9",
            "sessions": 1,
            "sent": 1,
            "started": 0,
            "completed": 0,
            "expired": 1,
            "reminders_sent": 1,
            "median_hours_to_complete": None,
        },
    ]


def test_completion_metrics_pool_the_arms_for_a_supervisor(
    metrics_scene: MetricsScene,
) -> None:
    """Allocation is concealed from staff who deliver support (DESIGN.md §1)."""
    programme = metrics_scene.people[0].programme
    supervisor = make_staff(programme, Role.SUPERVISOR)
    response = get(supervisor, "/api/v1/programmes/trial/survey-metrics/", CLOSES)
    assert response.status_code == 200
    assert response.json()["rows"] == [
        {
            "timepoint": "baseline",
            "arm": "",
            "instrument": "phq9",
            "sessions": 3,
            "sent": 3,
            "started": 2,
            "completed": 1,
            "expired": 2,
            "reminders_sent": 2,
            "median_hours_to_complete": 3.0,
        }
    ]
    assert "peer_support" not in response.content.decode()


def test_completion_metrics_hold_nothing_about_any_person(
    metrics_scene: MetricsScene,
) -> None:
    response = get(metrics_scene.evaluator, "/api/v1/programmes/trial/survey-metrics/", CLOSES)
    payload = response.content.decode()
    assert all(set(row) == ROW_FIELDS for row in response.json()["rows"])
    for enrolment in metrics_scene.people:
        assert str(enrolment.pk) not in payload
        assert str(session_of(enrolment).pk) not in payload


def test_completion_metrics_of_a_programme_without_sessions_are_empty() -> None:
    programme = survey_programme()
    supervisor = make_staff(programme, Role.SUPERVISOR)
    response = get(supervisor, "/api/v1/programmes/trial/survey-metrics/")
    assert response.status_code == 200
    assert response.json() == {"programme": "trial", "rows": []}


def test_completion_metrics_of_another_programme_are_not_found() -> None:
    survey_programme()
    outsider = make_staff(make_programme(slug="elsewhere"), Role.EVALUATOR)
    response = get(outsider, "/api/v1/programmes/trial/survey-metrics/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# A person's surveys ----------------------------------------------------------------------


@pytest.fixture
def answered_world() -> World:
    """`world.own` was asked PHQ-9 and GAD-7 by web links, and submitted the PHQ-9."""
    world = world_with_surveys("phq9", "gad7", channel_rule="web")
    tick(OPENS)
    # 9 x 1 = 9: "Mild" (5-9).
    submit_form(session_of(world.own), phq9(1, 1, 1, 1, 1, 1, 1, 1, 1, 2), "2027-01-12T19:00")
    return world


def test_a_persons_surveys_give_each_sessions_state_total_and_band(answered_world: World) -> None:
    response = get(answered_world.peer, f"/api/v1/enrolments/{answered_world.own.pk}/surveys/")
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert [(s["instrument"], s["state"], s["channel"]) for s in sessions] == [
        ("phq9", "completed", "web"),
        ("gad7", "invited", "web"),
    ]
    phq, gad = sessions
    assert set(phq) == SESSION_FIELDS
    assert phq["timepoint"] == "baseline"
    assert phq["version"] == "1"
    assert phq["result"] == {
        "total": 9.0,
        "band": "Mild",
        "subscales": {},
        "complete": True,
        "answered": 10,
    }
    assert phq["id"] == str(session_of(answered_world.own).pk)
    assert gad["result"] is None
    assert gad["completed_at"] is None


def test_a_persons_surveys_never_include_their_answers(answered_world: World) -> None:
    response = get(
        answered_world.supervisor, f"/api/v1/enrolments/{answered_world.own.pk}/surveys/"
    )
    assert response.status_code == 200
    payload = response.content.decode()
    assert not re.search(r"phq9_\d|gad7_\d", payload)
    keys: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            keys.update(value)
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(json.loads(payload))
    assert not keys & {"answers", "items", "values", "value"}


def test_a_persons_surveys_are_not_found_for_a_peer_who_does_not_handle_them(
    answered_world: World,
) -> None:
    response = get(
        answered_world.other_peer, f"/api/v1/enrolments/{answered_world.own.pk}/surveys/"
    )
    assert response.status_code == 404
    assert "phq9" not in response.content.decode()


# Switching an SMS survey to a web link ---------------------------------------------------


@pytest.fixture
def sms_world(client: Client) -> World:
    """`world.own` (SMS) was texted the PHQ-9 and answered its first two questions."""
    world = world_with_surveys("phq9")
    tick(OPENS)
    assert reply(client, world.own, "1", "2027-01-12T18:05") == "handled"
    assert reply(client, world.own, "more than half the days", "2027-01-12T18:06") == "handled"
    return world


def test_switching_to_a_web_link_puts_the_session_on_the_web(sms_world: World) -> None:
    session = session_of(sms_world.own)
    response = switch(sms_world.peer, session, "2027-01-12T18:10")
    assert response.status_code == 200
    assert response.json()["channel"] == "web"
    assert response.json()["state"] == "in_progress"
    session.refresh_from_db()
    assert session.channel == SurveyChannel.WEB
    assert session.current_item == ""
    assert AuditEntry.objects.filter(
        action="survey_session.switched_to_web", actor_id=sms_world.peer.pk
    ).exists()


def test_the_next_tick_after_the_switch_texts_the_link(sms_world: World) -> None:
    session = session_of(sms_world.own)
    switch(sms_world.peer, session, "2027-01-12T18:10")
    assert not SurveyLink.objects.filter(session=session).exists()
    tick("2027-01-12T18:11")
    assert prompt_kinds(sms_world.own) == ["intro", "item", "item", "link"]
    assert SurveyLink.objects.filter(session=session).exists()


def test_answers_given_by_sms_are_kept_and_shown_on_the_form(sms_world: World) -> None:
    session = session_of(sms_world.own)
    switch(sms_world.supervisor, session, "2027-01-12T18:10")
    tick("2027-01-12T18:11")
    with clock("2027-01-12T18:20"):
        page = Client().get(form_path(session)).content.decode()
    selected = {
        name: int(value)
        for name, value in re.findall(
            r'<input type="radio" name="(\w+)" value="(\d+)"[^>]*checked', page
        )
    }
    assert selected == {"phq9_1": 1, "phq9_2": 2}
    assert dict(session.answers.values_list("item_key", "value")) == {"phq9_1": 1, "phq9_2": 2}


def test_after_the_switch_a_text_is_not_taken_as_an_answer(
    sms_world: World, client: Client
) -> None:
    session = session_of(sms_world.own)
    switch(sms_world.peer, session, "2027-01-12T18:10")
    assert reply(client, sms_world.own, "3", "2027-01-12T18:12") == "message"
    assert session.answers.count() == 2


def test_switching_a_session_the_caller_does_not_handle_is_not_found(sms_world: World) -> None:
    session = session_of(sms_world.own)
    response = switch(sms_world.other_peer, session, "2027-01-12T18:10")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    session.refresh_from_db()
    assert session.channel == SurveyChannel.SMS
    assert session.current_item == "phq9_3"
    assert not AuditEntry.objects.filter(action="survey_session.switched_to_web").exists()


def test_switching_a_session_that_does_not_exist_is_not_found(sms_world: World) -> None:
    with clock("2027-01-12T18:10"):
        response = signed_in_client(sms_world.admin).post(
            f"/api/v1/survey-sessions/{uuid.uuid4()}/web-link/", {}, content_type="application/json"
        )
    assert response.status_code == 404


@pytest.mark.parametrize("ending", ["completed", "expired"])
def test_switching_a_finished_session_is_a_conflict(
    sms_world: World, client: Client, ending: str
) -> None:
    if ending == "completed":
        for n, answer in enumerate(["0"] * 7 + ["1"], start=10):
            assert reply(client, sms_world.own, answer, f"2027-01-12T18:{n}") == "handled"
        when = "2027-01-12T19:00"
    else:
        tick(CLOSES)
        when = CLOSES
    session = session_of(sms_world.own)
    assert session.state == ending
    response = switch(sms_world.peer, session, when)
    assert response.status_code == 409
    assert response.json()["code"] == "survey_session_closed"
    session.refresh_from_db()
    assert session.channel == SurveyChannel.SMS
    assert session.state == ending
    assert not SurveyLink.objects.filter(session=session).exists()
    assert not AuditEntry.objects.filter(action="survey_session.switched_to_web").exists()


def test_switching_a_planned_session_asks_it_by_web_link_when_it_opens() -> None:
    world = world_with_surveys("phq9")
    session = session_of(world.own)
    assert session.state == SessionState.PLANNED
    assert switch(world.peer, session, "2027-01-12T17:30").status_code == 200
    tick(OPENS)
    assert prompt_kinds(world.own) == ["link"]
    assert session_of(world.own).channel == SurveyChannel.WEB
