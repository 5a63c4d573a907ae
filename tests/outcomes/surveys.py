"""Shared set-up for the survey tests: a programme with a survey schedule, time travel, the
survey texts a person was sent (as they read them), and answers by signed webhook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.test import Client

from messaging.models import OutboxTemplate, SmsOutbox
from outcomes.dispatch import SurveyDispatchResult, dispatch_surveys
from outcomes.models import SurveySession
from outcomes.prompts import prompt_text
from outcomes.services import TimepointSpec, configure_survey_schedule
from people.models import Channel
from programmes.models import Enrolment, Programme
from programmes.services import ArmSpec
from tests.scheduling.texts import clock
from tests.support.factories import enrol, make_programme
from tests.support.sms import inbound, phone_of

SURVEYS_ONLY = (ArmSpec("usual_care", "Usual care", False, False, False),)
PEER_SUPPORT = (ArmSpec("peer_support", "Peer support", True, False, False),)


def baseline(*instruments: str, window_days: int = 14) -> list[TimepointSpec]:
    return [TimepointSpec("baseline", "Baseline", 0, window_days, tuple(instruments))]


def survey_programme(
    *,
    arms: Sequence[ArmSpec] = SURVEYS_ONLY,
    timepoints: Sequence[TimepointSpec] | None = None,
    slug: str = "trial",
    **schedule: Any,
) -> Programme:
    programme = make_programme(slug=slug, arms=arms)
    configure_survey_schedule(
        programme=programme,
        changed_by=None,
        timepoints=list(timepoints) if timepoints is not None else baseline("phq9"),
        **schedule,
    )
    return programme


def enrol_at(programme: Programme, when: str, **kwargs: Any) -> Enrolment:
    """Enrol at the UTC instant `when`; peer support as the programme's only arm gives."""
    kwargs.setdefault("channel", Channel.SMS)
    kwargs.setdefault("peer_support", None)
    with clock(when):
        return enrol(programme, **kwargs)


def tick(when: str | dt.datetime) -> SurveyDispatchResult:
    with clock(when):
        return dispatch_surveys()


def sessions_of(enrolment: Enrolment) -> list[SurveySession]:
    return list(
        SurveySession.objects.filter(enrolment=enrolment).order_by(
            "timepoint__offset_days", "position"
        )
    )


def session_of(enrolment: Enrolment, slug: str = "phq9") -> SurveySession:
    return SurveySession.objects.get(enrolment=enrolment, instrument_slug=slug)


def survey_sms(enrolment: Enrolment) -> list[SmsOutbox]:
    return list(
        SmsOutbox.objects.filter(participant=enrolment.participant, template=OutboxTemplate.SURVEY)
        .select_related(
            "survey_prompt__session__instrument", "survey_prompt__session__enrolment__programme"
        )
        .order_by("pk")
    )


def survey_texts(enrolment: Enrolment) -> list[str]:
    """What the person's survey texts say, in order, written as at send time."""
    return [prompt_text(row.survey_prompt) for row in survey_sms(enrolment) if row.survey_prompt]


def prompt_kinds(enrolment: Enrolment) -> list[str]:
    return [row.survey_prompt.kind for row in survey_sms(enrolment) if row.survey_prompt]


def reply(client: Client, enrolment: Enrolment, body: str, when: str | dt.datetime) -> str:
    """The person texts `body` at `when`; returns the webhook's outcome."""
    from messaging.models import InboundSms

    with clock(when):
        response = inbound(client, sender=phone_of(enrolment), body=body)
    assert response.status_code == 200, response.content
    latest = InboundSms.objects.order_by("-received_at", "-pk").first()
    assert latest is not None
    return latest.outcome
