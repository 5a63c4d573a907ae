"""The survey web form at /surveys/<token>/ (issue 8 items 4, 5 and 7), driven through
Django's test client with CSRF enforced, after a real dispatcher tick has texted the link.

It proves: the form shows the instrument's stem and every item with its options, and is
never cached nor leaked as a referrer; answers are saved part way and shown again on
return; an answer that is no option is refused next to its item and writes nothing; a
submit with required items missing names each of them and keeps what was given (PHQ-9's
unscored item 10 may stay empty); a complete submit is scored, ends the session, thanks the
person, and with item 9 above 0 opens one risk alert and shows the crisis resources; a used
link says "Already done", an expired one says so, an altered or unknown token is not found,
a withdrawn person's link is closed, and none of those writes anything; STOP by SMS leaves
an open web link working.

The person prefers the web and enrolled on a winter Tuesday at 10:00 in Edmonton (UTC-7):
the baseline PHQ-9 opens at 11:00 local (18:00 UTC) and closes 14 days later."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from messaging.risk.models import RiskAlert, RiskSignal
from outcomes.instrument_format import InstrumentSpec
from outcomes.links import survey_url, token_of
from outcomes.models import (
    AnswerSource,
    SessionState,
    SurveyAnswer,
    SurveyLink,
    SurveyResult,
    SurveySession,
)
from outcomes.selectors import spec_of
from people.models import Channel
from programmes.models import Enrolment, EnrolmentStatus
from programmes.services import end_enrolment
from tests.outcomes.surveys import (
    enrol_at,
    prompt_kinds,
    reply,
    session_of,
    survey_programme,
    survey_texts,
    tick,
)
from tests.scheduling.texts import clock
from tests.support.factories import World
from tests.support.role_matrix import ROLES, user_for

pytestmark = pytest.mark.django_db

ENROLLED = "2027-01-12T17:00"  # 10:00 in Edmonton
OPENS = "2027-01-12T18:00"  # 11:00 local: the baseline opens, the link is texted
LATER = "2027-01-12T18:30"
NEXT_DAY = "2027-01-13T18:00"
CLOSES = "2027-01-26T18:00"  # 14 days after it opened
SAVED = "Your answers so far are saved."
INVALID_CHOICE = "Please choose one of the answers given."
MISSING = "Please answer this question."


def phq9(*values: int | str) -> dict[str, str]:
    """Form fields for PHQ-9 items 1, 2, ... in order."""
    return {f"phq9_{n}": str(value) for n, value in enumerate(values, start=1)}


def path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


@dataclass
class WebSurvey:
    """A web-preference person whose baseline PHQ-9 link has been texted, and their phone's
    browser (CSRF enforced: it posts the token the form page gave it)."""

    enrolment: Enrolment
    path: str
    browser: Client

    @property
    def session(self) -> SurveySession:
        return session_of(self.enrolment)

    @property
    def spec(self) -> InstrumentSpec:
        instrument = self.session.instrument
        assert instrument is not None
        return spec_of(instrument)

    def open(self, when: str = LATER) -> Any:
        with clock(when):
            response = self.browser.get(self.path)
        return response

    def post(self, fields: Mapping[str, str], *, action: str = "save", when: str = LATER) -> Any:
        data = {**fields, "action": action, "csrfmiddlewaretoken": self.csrf_token()}
        with clock(when):
            response = self.browser.post(self.path, data)
        return response

    def csrf_token(self) -> str:
        return self.browser.cookies["csrftoken"].value

    def answers(self) -> dict[str, int]:
        return dict(
            SurveyAnswer.objects.filter(session__enrolment=self.enrolment).values_list(
                "item_key", "value"
            )
        )


@pytest.fixture
def survey() -> WebSurvey:
    programme = survey_programme()
    enrolment = enrol_at(programme, ENROLLED, channel=Channel.WEB)
    assert tick(OPENS).outcomes["invited"] == 1
    link = SurveyLink.objects.get(session__enrolment=enrolment)
    browser = Client(enforce_csrf_checks=True)
    web = WebSurvey(enrolment, path_of(survey_url(link.pk)), browser)
    # The person opens the link first: the page sets the CSRF cookie the form posts back.
    assert web.open(OPENS).status_code == 200
    assert "csrftoken" in browser.cookies
    return web


def text(response: Any) -> str:
    return response.content.decode()


def checked(response: Any) -> dict[str, int]:
    """The radio buttons the page shows selected: item key -> value."""
    selected = {}
    for tag in re.findall(r"<input\b[^>]*>", text(response)):
        if re.search(r"\bchecked\b", tag) and 'type="radio"' in tag:
            name = re.search(r'name="([^"]+)"', tag)
            value = re.search(r'value="([^"]+)"', tag)
            assert name and value
            selected[name.group(1)] = int(value.group(1))
    return selected


def error_of(response: Any, key: str) -> str | None:
    """The message the page shows next to item `key`, if any."""
    found = re.search(rf'<p class="error" id="{re.escape(key)}-error">([^<]*)</p>', text(response))
    return found.group(1) if found else None


# The link and the page -------------------------------------------------------------------


def test_the_dispatcher_texts_the_sessions_web_link(survey: WebSurvey) -> None:
    link = SurveyLink.objects.get(session=survey.session)
    assert survey.session.channel == "web"
    assert prompt_kinds(survey.enrolment) == ["link"]
    assert survey_url(link.pk) in survey_texts(survey.enrolment)[0]


def test_the_form_shows_the_stem_and_every_item_with_its_options(survey: WebSurvey) -> None:
    response = survey.open()
    page = text(response)
    assert response.status_code == 200
    assert escape(survey.spec.stem["en"]) in page
    assert len(survey.spec.items) == 10
    for number, item in enumerate(survey.spec.items, start=1):
        assert f"{number}. {escape(item.text['en'])}" in page
        for option in item.options:
            assert escape(option.label["en"]) in page
        values = re.findall(rf'<input[^>]*name="{item.key}"[^>]*value="(\d+)"', page)
        values += re.findall(rf'<input[^>]*value="(\d+)"[^>]*name="{item.key}"', page)
        assert sorted(int(v) for v in values) == sorted(item.values)
    assert checked(response) == {}


def test_the_form_is_never_stored_by_caches_nor_sent_as_a_referrer(survey: WebSurvey) -> None:
    response = survey.open()
    assert response["Cache-Control"] == "no-store"
    # Not "no-referrer": Chromium then sends `Origin: null` with the form, which Django's
    # CSRF check refuses (tests/browser/test_survey.py).
    assert response["Referrer-Policy"] == "same-origin"


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(survey: WebSurvey) -> None:
    with clock(LATER):
        response = survey.browser.post(survey.path, {**phq9(1, 2), "action": "save"})
    assert response.status_code == 403
    assert survey.answers() == {}
    assert survey.session.state == SessionState.INVITED


# Saving part way -------------------------------------------------------------------------


def test_saving_part_way_stores_the_answers_given(survey: WebSurvey) -> None:
    response = survey.post(phq9(1, 2, 3), action="save")
    assert response.status_code == 200
    assert SAVED in text(response)
    assert survey.answers() == {"phq9_1": 1, "phq9_2": 2, "phq9_3": 3}
    assert set(
        SurveyAnswer.objects.filter(session=survey.session).values_list("source", flat=True)
    ) == {AnswerSource.WEB}
    session = survey.session
    assert session.state == SessionState.IN_PROGRESS
    assert session.started_at is not None
    assert not SurveyResult.objects.filter(session=session).exists()
    assert SurveyLink.objects.get(session=session).used_at is None


def test_saving_item_9_above_0_part_way_shows_the_crisis_resources(survey: WebSurvey) -> None:
    response = survey.post(phq9(0, 0, 0, 0, 0, 0, 0, 0, 2), action="save")
    assert response.status_code == 200
    assert "Call 988." in text(response)


def test_returning_to_the_link_shows_the_saved_answers_selected(survey: WebSurvey) -> None:
    survey.post(phq9(1, 2, 3), action="save")
    response = survey.open(NEXT_DAY)
    assert response.status_code == 200
    assert checked(response) == {"phq9_1": 1, "phq9_2": 2, "phq9_3": 3}


def test_saving_again_corrects_an_answer(survey: WebSurvey) -> None:
    survey.post(phq9(1, 2), action="save")
    survey.post({"phq9_2": "0", "phq9_4": "3"}, action="save", when=NEXT_DAY)
    assert survey.answers() == {"phq9_1": 1, "phq9_2": 0, "phq9_4": 3}


def test_a_reminder_follows_the_interval_after_the_last_save(survey: WebSurvey) -> None:
    # Reminders every 72 hours after the last thing that happened in the session
    # (outcomes/planning.next_reminder_at): a save a day in puts the first one off a day.
    survey.post(phq9(1, 2), action="save", when=NEXT_DAY)
    tick("2027-01-15T18:00")  # 72 hours after the link
    assert prompt_kinds(survey.enrolment) == ["link"]
    tick("2027-01-16T18:00")  # 72 hours after the save
    assert prompt_kinds(survey.enrolment) == ["link", "link_reminder"]


# Validation per item ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["7", "x", "-1", "1.5", " "])
def test_an_answer_that_is_no_option_is_refused_next_to_its_item(
    survey: WebSurvey, bad: str
) -> None:
    response = survey.post({**phq9(1, 2), "phq9_3": bad}, action="save")
    assert response.status_code == 400
    assert error_of(response, "phq9_3") == INVALID_CHOICE
    assert error_of(response, "phq9_1") is None
    assert SAVED not in text(response)
    # Nothing written, not even the valid answers of the same post.
    assert survey.answers() == {}
    assert survey.session.state == SessionState.INVITED


def test_an_answer_that_is_no_option_is_refused_on_submit_too(survey: WebSurvey) -> None:
    response = survey.post({**phq9(0, 0, 0, 0, 0, 0, 0, 0), "phq9_9": "4"}, action="submit")
    assert response.status_code == 400
    assert error_of(response, "phq9_9") == INVALID_CHOICE
    assert survey.answers() == {}
    assert not SurveyResult.objects.filter(session=survey.session).exists()
    assert not RiskAlert.objects.filter(enrolment=survey.enrolment).exists()


def test_submitting_with_items_missing_names_each_and_keeps_the_rest(survey: WebSurvey) -> None:
    response = survey.post(phq9(1, 2, 3, 0, 1, 2), action="submit")
    assert response.status_code == 400
    for key in ("phq9_7", "phq9_8", "phq9_9"):
        assert error_of(response, key) == MISSING
    for key in ("phq9_1", "phq9_6", "phq9_10"):
        assert error_of(response, key) is None
    assert survey.answers() == {f"phq9_{n}": v for n, v in enumerate([1, 2, 3, 0, 1, 2], 1)}
    session = survey.session
    assert session.state == SessionState.IN_PROGRESS
    assert not SurveyResult.objects.filter(session=session).exists()
    assert SurveyLink.objects.get(session=session).used_at is None


def test_item_10_may_be_left_empty(survey: WebSurvey) -> None:
    response = survey.post(phq9(1, 1, 1, 1, 1, 1, 1, 1, 0), action="submit")
    assert response.status_code == 200
    session = survey.session
    assert session.state == SessionState.COMPLETED
    assert session.result.answered == 9
    assert session.result.complete is True
    assert session.result.total == 8


# Submitting ------------------------------------------------------------------------------


def test_a_complete_submit_is_scored_and_ends_the_session(survey: WebSurvey) -> None:
    # 1+2+3+0+1+2+0+1+0 = 10: "Moderate" (10-14); item 10 is not scored.
    survey.post(phq9(1, 2, 3, 0, 1, 2, 0, 1, 0, 3), action="submit")
    session = survey.session
    assert session.state == SessionState.COMPLETED
    assert session.completed_at is not None
    assert session.next_action_at is None
    assert session.result.total == 10
    assert session.result.band == "Moderate"
    assert session.result.complete is True
    assert session.result.answered == 10
    assert SurveyLink.objects.get(session=session).used_at is not None


def test_a_complete_submit_shows_the_thanks_page(survey: WebSurvey) -> None:
    response = survey.post(phq9(1, 2, 3, 0, 1, 2, 0, 1, 0, 3), action="submit")
    assert response.status_code == 200
    assert "<h1>Thank you</h1>" in text(response)
    assert response["Cache-Control"] == "no-store"


def test_item_9_above_0_opens_one_risk_alert(survey: WebSurvey) -> None:
    # Saved first, then submitted with the same answer: one signal, one alert.
    survey.post(phq9(0, 1, 0, 2, 1, 0, 1, 0, 1), action="save")
    survey.post(phq9(0, 1, 0, 2, 1, 0, 1, 0, 1, 1), action="submit", when=NEXT_DAY)
    alerts = RiskAlert.objects.filter(enrolment=survey.enrolment)
    assert alerts.count() == 1
    assert RiskSignal.objects.filter(alert__in=alerts).count() == 1
    assert survey.session.result.total == 6
    assert survey.session.result.band == "Mild"


def test_the_thanks_page_after_item_9_above_0_gives_the_crisis_resources(
    survey: WebSurvey,
) -> None:
    response = survey.post(phq9(0, 0, 0, 0, 0, 0, 0, 0, 2), action="submit")
    assert response.status_code == 200
    assert "Call 988." in text(response)


def test_item_9_at_0_opens_no_alert_and_shows_no_crisis_text(survey: WebSurvey) -> None:
    response = survey.post(phq9(3, 3, 3, 3, 3, 3, 3, 3, 0, 3), action="submit")
    assert response.status_code == 200
    assert survey.session.result.band == "Severe"
    assert "Call 988." not in text(response)
    assert not RiskAlert.objects.filter(enrolment=survey.enrolment).exists()


# Links that no longer work ---------------------------------------------------------------


def test_a_used_link_says_already_done(survey: WebSurvey) -> None:
    survey.post(phq9(1, 1, 1, 1, 1, 1, 1, 1, 0), action="submit")
    response = survey.open(NEXT_DAY)
    assert response.status_code == 410
    assert "Already done" in text(response)
    assert "<form" not in text(response)
    assert response["Cache-Control"] == "no-store"


def test_posting_to_a_used_link_changes_nothing(survey: WebSurvey) -> None:
    survey.post(phq9(1, 1, 1, 1, 1, 1, 1, 1, 0), action="submit")
    result = SurveyResult.objects.get(session=survey.session)
    response = survey.post(phq9(3, 3, 3, 3, 3, 3, 3, 3, 3), action="submit", when=NEXT_DAY)
    assert response.status_code == 410
    assert "Already done" in text(response)
    assert survey.answers() == {f"phq9_{n}": 1 for n in range(1, 9)} | {"phq9_9": 0}
    assert SurveyResult.objects.get(session=survey.session).scored_at == result.scored_at
    assert not RiskAlert.objects.filter(enrolment=survey.enrolment).exists()


def test_a_link_after_its_window_closes_says_expired(survey: WebSurvey) -> None:
    response = survey.open(CLOSES)
    assert response.status_code == 410
    assert "This link has expired" in text(response)
    assert "<form" not in text(response)


def test_posting_after_the_window_closes_writes_nothing(survey: WebSurvey) -> None:
    response = survey.post(phq9(1, 2, 3), action="save", when=CLOSES)
    assert response.status_code == 410
    assert "This link has expired" in text(response)
    assert survey.answers() == {}
    assert survey.session.started_at is None


def test_answers_saved_before_the_window_closes_are_scored_incomplete(survey: WebSurvey) -> None:
    survey.post(phq9(2, 2, 2), action="save")
    tick(CLOSES)
    session = survey.session
    assert session.state == SessionState.EXPIRED
    assert session.result.complete is False
    assert session.result.answered == 3
    assert survey.open(CLOSES).status_code == 410


def test_an_altered_token_is_not_found(survey: WebSurvey) -> None:
    token = survey.path.split("/")[2]
    value, signature = token.split(":")
    altered = ("0" if value[0] != "0" else "1") + value[1:]
    response = survey.browser.get(f"/surveys/{altered}:{signature}/")
    assert response.status_code == 404
    assert "Link not found" in text(response)


def test_a_well_signed_token_of_no_link_is_not_found(survey: WebSurvey) -> None:
    response = survey.browser.get(f"/surveys/{token_of(uuid.uuid4())}/")
    assert response.status_code == 404
    assert "Link not found" in text(response)


def test_posting_with_a_bad_token_writes_nothing(survey: WebSurvey) -> None:
    with clock(LATER):
        response = survey.browser.post(
            "/surveys/not-a-token/",
            {**phq9(1, 2), "action": "save", "csrfmiddlewaretoken": survey.csrf_token()},
        )
    assert response.status_code == 404
    assert SurveyAnswer.objects.count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_a_bad_token_is_not_found_whoever_asks(world: World, role: str) -> None:
    client = Client()
    user = user_for(world, role)
    if user is not None:
        client.force_login(user)
    response = client.get(f"/surveys/{token_of(uuid.uuid4())}x/")
    assert response.status_code == 404


def test_a_withdrawn_persons_link_is_closed(survey: WebSurvey) -> None:
    with clock(LATER):
        end_enrolment(enrolment=survey.enrolment, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    response = survey.open(NEXT_DAY)
    assert response.status_code == 410
    assert "This survey is closed" in text(response)
    refused = survey.post(phq9(1, 2), action="save", when=NEXT_DAY)
    assert refused.status_code == 410
    assert survey.answers() == {}


def test_stop_by_sms_leaves_the_web_link_working(survey: WebSurvey, client: Client) -> None:
    survey.post(phq9(1, 2), action="save")
    assert reply(client, survey.enrolment, "STOP", LATER) == "opted_out"
    assert survey.session.state == SessionState.IN_PROGRESS
    response = survey.open(NEXT_DAY)
    assert response.status_code == 200
    assert checked(response) == {"phq9_1": 1, "phq9_2": 2}
    survey.post(phq9(1, 2, 0, 0, 0, 0, 0, 0, 0), action="submit", when=NEXT_DAY)
    assert survey.session.state == SessionState.COMPLETED
