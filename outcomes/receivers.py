"""The surveys' answers to what other apps announce (connected in apps.py). Each runs inside
the announcing service's transaction: the enrolment, the opt-out or the change of time zone
and its effect on the person's surveys commit together."""

from __future__ import annotations

from typing import Any

from messaging.actions.sms_consent import sms_opt_out_coming, sms_opted_in, sms_opted_out
from messaging.sms.inbound import register_inbound_handler
from outcomes import services
from outcomes.actions.sms_session import take_survey_answer
from outcomes.models import SessionStopReason, SurveyChannel, SurveySession
from people.models import Participant
from people.services import timing_preferences_changed
from programmes.models import Enrolment
from programmes.signals import enrolment_ended, enrolment_started


def on_enrolment_started(sender: object, *, enrolment: Enrolment, **_: Any) -> None:
    services.plan_surveys(enrolment=enrolment)


def on_enrolment_ended(sender: object, *, enrolment: Enrolment, **_: Any) -> None:
    services.stop_surveys(
        sessions=SurveySession.objects.filter(enrolment=enrolment),
        reason=SessionStopReason.ENROLMENT_ENDED,
    )


def on_opt_out_coming(sender: object, *, participant: Participant, **_: Any) -> None:
    services.hold_surveys(participant=participant)


def on_opted_out(sender: object, *, participant: Participant, **_: Any) -> None:
    # SMS sessions stop (a web link keeps working: STOP is about texts). Sessions not yet
    # open choose their channel when they open.
    services.stop_surveys(
        sessions=SurveySession.objects.filter(
            enrolment__participant=participant, channel=SurveyChannel.SMS
        ),
        reason=SessionStopReason.OPTED_OUT,
    )


def on_opted_in(sender: object, *, participant: Participant, **_: Any) -> None:
    services.resume_surveys_after_opt_in(participant=participant)


def on_timing_changed(sender: object, *, participant: Participant, **_: Any) -> None:
    services.replan_planned_surveys(participant=participant)


def connect() -> None:
    enrolment_started.connect(on_enrolment_started, dispatch_uid="outcomes.enrolment_started")
    enrolment_ended.connect(on_enrolment_ended, dispatch_uid="outcomes.enrolment_ended")
    sms_opt_out_coming.connect(on_opt_out_coming, dispatch_uid="outcomes.opt_out_coming")
    sms_opted_out.connect(on_opted_out, dispatch_uid="outcomes.opted_out")
    sms_opted_in.connect(on_opted_in, dispatch_uid="outcomes.opted_in")
    timing_preferences_changed.connect(on_timing_changed, dispatch_uid="outcomes.timing")
    register_inbound_handler(take_survey_answer)
