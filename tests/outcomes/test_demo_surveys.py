"""The demo's surveys (issue 8, "Done when"): after `seed_demo`, Morgan Demo completes their
baseline PHQ-9 by simulated SMS (signed webhooks, as `simulate_sms` posts them) and their
GAD-7 through the web link; both are scored, a positive item 9 raises a risk alert that the
demo supervisor sees, and completion is visible through the API. Seeded at 23:00 in Edmonton:
the demo works at any hour."""

from __future__ import annotations

import io
import re

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from outcomes.demo import DEMO_SURVEY_PHONE
from outcomes.models import SessionState, SurveySession
from tests.scheduling.texts import utc
from tests.support.factories import signed_in_client
from tests.support.sms import inbound

pytestmark = pytest.mark.django_db

SEEDED = utc("2027-01-13T06:00")  # 23:00 on 12 January in Edmonton
PHQ9_ANSWERS = ["1", "2", "1", "Several days", "0", "1", "0", "0", "1", "somewhat difficult"]
GAD7_ANSWERS = {
    "gad7_1": 2,
    "gad7_2": 1,
    "gad7_3": 1,
    "gad7_4": 0,
    "gad7_5": 0,
    "gad7_6": 1,
    "gad7_7": 0,
}


def _seed() -> str:
    out = io.StringIO()
    with time_machine.travel(SEEDED, tick=False):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def _session(slug: str) -> SurveySession:
    return SurveySession.objects.select_related("result").get(
        enrolment__programme__slug="demo",
        enrolment__participant__phone_index__isnull=False,
        timepoint__code="baseline",
        instrument_slug=slug,
        enrolment__participant__in=_morgan(),
    )


def _morgan() -> list[object]:
    from people.selectors import find_participant_by_phone

    return [find_participant_by_phone(DEMO_SURVEY_PHONE)]


def answer_phq9_by_sms(client: Client) -> None:
    for minute, body in enumerate(PHQ9_ANSWERS, start=1):
        with time_machine.travel(utc(f"2027-01-13T06:{minute:02d}"), tick=False):
            assert inbound(client, sender=DEMO_SURVEY_PHONE, body=body).status_code == 200


def web_link_path(output: str) -> str:
    match = re.search(r"their GAD-7 is a web link: https?://[^/]+(/surveys/[^/\s]+/)", output)
    assert match, "seed_demo prints the GAD-7 link"
    return match.group(1)


def test_seed_demo_texts_morgan_the_phq9_by_sms_and_the_gad7_as_a_link() -> None:
    output = _seed()
    phq9, gad7 = _session("phq9"), _session("gad7")
    assert (phq9.channel, phq9.state) == ("sms", SessionState.INVITED)
    assert (gad7.channel, gad7.state) == ("web", SessionState.INVITED)
    assert "simulate_sms --from +17805550102" in output
    web_link_path(output)


def test_the_demo_phq9_completed_by_sms_is_scored_and_item_9_alerts_the_supervisor(
    client: Client,
) -> None:
    _seed()
    answer_phq9_by_sms(client)
    phq9 = _session("phq9")
    assert phq9.state == SessionState.COMPLETED
    assert (phq9.result.total, phq9.result.band, phq9.result.complete) == (7.0, "Mild", True)
    from people.models import User

    with time_machine.travel(utc("2027-01-13T06:20"), tick=False):
        supervisor = signed_in_client(User.objects.get(username="demo-supervisor"))
        response = supervisor.get("/api/v1/risk-alerts/")
    assert response.status_code == 200, response.json()
    assert any(a["enrolment"] == str(phq9.enrolment_id) for a in response.json())


def test_the_demo_gad7_completed_through_the_web_link_is_scored_and_counted(
    client: Client,
) -> None:
    output = _seed()
    path = web_link_path(output)
    with time_machine.travel(utc("2027-01-13T06:30"), tick=False):
        assert client.get(path).status_code == 200
        done = client.post(path, {**GAD7_ANSWERS, "action": "submit"})
    assert done.status_code == 200
    gad7 = _session("gad7")
    assert gad7.state == SessionState.COMPLETED
    assert (gad7.result.total, gad7.result.band) == (5.0, "Mild")
    from people.models import User

    with time_machine.travel(utc("2027-01-13T06:31"), tick=False):
        evaluator = signed_in_client(User.objects.get(username="demo-evaluator"))
        metrics = evaluator.get("/api/v1/programmes/demo/survey-metrics/").json()
    baseline_gad7 = [
        r for r in metrics["rows"] if (r["timepoint"], r["instrument"]) == ("baseline", "gad7")
    ]
    assert sum(r["completed"] for r in baseline_gad7) == 1
