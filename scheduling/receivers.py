"""The scheduler's answers to what other apps announce (connected in apps.py). Each runs
inside the announcing service's transaction: the enrolment, the opt-out or the change of time
zone and its effect on the texts commit together."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from messaging.actions.sms_consent import sms_opt_out_coming, sms_opted_in, sms_opted_out
from people.models import Participant
from people.services import timing_preferences_changed
from programmes.models import Enrolment
from programmes.signals import enrolment_ended, enrolment_started
from scheduling import services
from scheduling.models import StopReason


def on_enrolment_started(sender: object, *, enrolment: Enrolment, **_: Any) -> None:
    if services.schedule_of(enrolment.programme) is not None:
        services.plan_enrolment(enrolment=enrolment)


def on_enrolment_ended(sender: object, *, enrolment: Enrolment, **_: Any) -> None:
    services.stop_streams(
        enrolment_filter=Q(enrolment=enrolment), reason=StopReason.ENROLMENT_ENDED
    )


def on_opted_out(sender: object, *, participant: Participant, **_: Any) -> None:
    services.stop_streams(
        enrolment_filter=Q(enrolment__participant=participant),
        reason=StopReason.OPTED_OUT,
        states=(services.SendState.SCHEDULED,),
    )


def on_opt_out_coming(sender: object, *, participant: Participant, **_: Any) -> None:
    services.hold_streams(participant=participant)


def on_opted_in(sender: object, *, participant: Participant, **_: Any) -> None:
    services.resume_after_opt_in(participant=participant)


def on_timing_changed(sender: object, *, participant: Participant, **_: Any) -> None:
    services.replan_participant(participant=participant)


def connect() -> None:
    enrolment_started.connect(on_enrolment_started, dispatch_uid="scheduling.enrolment_started")
    enrolment_ended.connect(on_enrolment_ended, dispatch_uid="scheduling.enrolment_ended")
    sms_opted_out.connect(on_opted_out, dispatch_uid="scheduling.opted_out")
    sms_opt_out_coming.connect(on_opt_out_coming, dispatch_uid="scheduling.opt_out_coming")
    sms_opted_in.connect(on_opted_in, dispatch_uid="scheduling.opted_in")
    timing_preferences_changed.connect(on_timing_changed, dispatch_uid="scheduling.timing")
