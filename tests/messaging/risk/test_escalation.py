"""Escalation (DESIGN.md §3, data flow 6): an alert nobody acknowledges is texted, through the
outbox, to the on-call supervisors of rota level 1 at the programme's first step (default 10
minutes after opening), then level 2 at the second (default 20); each step audited and on
the alert's timeline; a level with nobody reachable falls back to anyone on call, then to
every supervisor of the programme with a phone, and a step that reaches nobody is recorded
and tried again five minutes later; acknowledging stops it. Time is controlled throughout.

Nothing here prints a message text or a phone number."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from messaging.models import Conversation, Message, OutboxPurpose, SmsOutbox
from messaging.risk import texts
from messaging.risk.models import AlertEventKind, RiskAlert, RiskAlertEvent
from messaging.risk.services import (
    acknowledge_alert,
    escalate_due_alerts,
    raise_signal,
    resolve_alert,
)
from messaging.risk.tasks import escalate_alerts
from messaging.services import post_message
from people.models import User
from people.selectors import participant_profile
from programmes.models import Enrolment, Programme, Role
from staffing.services import add_on_call_shift, record_leave, set_staff_phone, staff_phone
from tests.support.factories import World, fictional_phone, make_programme, make_staff

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def on_call(
    programme: Programme,
    supervisor: User,
    *,
    level: int = 1,
    starts: float = -60,
    ends: float = 12 * 60,
    phone: bool = True,
) -> User:
    add_on_call_shift(
        programme=programme,
        supervisor=supervisor,
        starts_at=minutes(starts),
        ends_at=minutes(ends),
        level=level,
        created_by=None,
    )
    if phone:
        set_staff_phone(user=supervisor, phone=fictional_phone(), changed_by=None)
    return supervisor


@pytest.fixture
def backup(world: World) -> User:
    return make_staff(world.programme, Role.SUPERVISOR, "backup")


@pytest.fixture
def rota(world: World, backup: User) -> tuple[User, User]:
    """Level 1: the team's supervisor; level 2: another supervisor. Both with a phone."""
    on_call(world.programme, world.supervisor, level=1)
    on_call(world.programme, backup, level=2)
    return world.supervisor, backup


@pytest.fixture
def alert(world: World, time_machine: Any) -> RiskAlert:
    """An alert opened at T0 (the clock then stays at T0 unless a test moves it)."""
    time_machine.move_to(T0, tick=False)
    return raise_signal(
        source="survey",
        source_key="survey:phq9-item9",
        severity="high",
        categories=["suicide"],
        enrolment=world.own,
    )


def escalations() -> list[SmsOutbox]:
    return list(SmsOutbox.objects.filter(purpose=OutboxPurpose.ESCALATION).order_by("pk"))


def texted() -> list[int | None]:
    return [outbox.staff_id for outbox in escalations()]


def steps_of(alert: RiskAlert) -> list[RiskAlertEvent]:
    return list(
        RiskAlertEvent.objects.filter(
            alert=alert,
            kind__in=[AlertEventKind.ESCALATED, AlertEventKind.ESCALATION_UNREACHABLE],
        )
    )


def audited(alert: RiskAlert, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, target_id=str(alert.pk)).order_by("id"))


# --- The steps ------------------------------------------------------------------------------


def test_nothing_escalates_before_the_first_step(alert: RiskAlert, rota: Any) -> None:
    assert escalate_due_alerts(now=minutes(10) - dt.timedelta(seconds=1)) == 0
    assert texted() == []
    alert.refresh_from_db()
    assert alert.escalation_level == 0


def test_at_the_first_step_the_level_one_supervisor_is_texted(
    alert: RiskAlert, rota: tuple[User, User]
) -> None:
    assert escalate_due_alerts(now=minutes(10)) == 1
    assert texted() == [rota[0].pk]
    [outbox] = escalations()
    assert (outbox.template, outbox.programme_id, outbox.participant_id) == (
        "escalation",
        alert.programme_id,
        None,
    )


def test_the_escalation_text_goes_to_the_supervisors_number(
    alert: RiskAlert,
    rota: tuple[User, User],
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        escalate_due_alerts(now=minutes(10))
    to_supervisor = [s for s in fake_twilio.sent if s.to == staff_phone(rota[0].pk)]
    assert [s.body for s in to_supervisor] == [texts.escalation_text(alert.programme)]
    assert escalations()[0].status == "sent"


def test_the_escalation_text_names_the_programme_and_nothing_about_the_person(
    world: World,
    alert: RiskAlert,
    rota: Any,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        escalate_due_alerts(now=minutes(10))
    profile = participant_profile(world.own.participant)
    [body] = [s.body for s in fake_twilio.sent if "risk alert" in s.body]
    assert world.programme.name in body
    for secret in (profile.phone, profile.phone[2:], profile.name, *profile.name.split()):
        assert secret not in body


def test_an_escalation_step_is_on_the_timeline_and_audited(
    alert: RiskAlert, rota: tuple[User, User]
) -> None:
    escalate_due_alerts(now=minutes(10))
    [step] = steps_of(alert)
    details = {"level": 1, "texted": [rota[0].pk], "no_phone": [], "reached": "on_call"}
    assert (step.kind, step.details, step.created_at) == ("escalated", details, minutes(10))
    [entry] = audited(alert, "risk_alert.escalated")
    assert (entry.details, entry.actor_id) == (details, None)


def test_after_the_first_step_the_second_is_due_at_twenty_minutes(
    alert: RiskAlert, rota: Any
) -> None:
    escalate_due_alerts(now=minutes(10))
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.next_escalation_at) == (1, minutes(20))


def test_at_the_second_step_the_level_two_supervisor_is_texted(
    alert: RiskAlert, rota: tuple[User, User]
) -> None:
    escalate_due_alerts(now=minutes(10))
    assert escalate_due_alerts(now=minutes(19)) == 0
    assert escalate_due_alerts(now=minutes(20)) == 1
    assert texted() == [rota[0].pk, rota[1].pk]
    assert [step.details["level"] for step in steps_of(alert)] == [1, 2]


def test_after_the_last_step_nothing_more_is_due(alert: RiskAlert, rota: Any) -> None:
    escalate_due_alerts(now=minutes(10))
    escalate_due_alerts(now=minutes(20))
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.next_escalation_at) == (2, None)
    assert escalate_due_alerts(now=minutes(6 * 60)) == 0
    assert len(texted()) == 2


def test_a_sweep_run_twice_for_the_same_minute_texts_once(alert: RiskAlert, rota: Any) -> None:
    assert escalate_due_alerts(now=minutes(10)) == 1
    assert escalate_due_alerts(now=minutes(10)) == 0
    assert len(texted()) == 1
    assert len(audited(alert, "risk_alert.escalated")) == 1


def test_a_late_sweep_still_texts_level_one_first(
    alert: RiskAlert, rota: tuple[User, User]
) -> None:
    assert escalate_due_alerts(now=minutes(45)) == 1
    assert texted() == [rota[0].pk]
    assert escalate_due_alerts(now=minutes(45)) == 1
    assert texted() == [rota[0].pk, rota[1].pk]


def open_alert(world: World, **programme_settings: Any) -> RiskAlert:
    for name, value in programme_settings.items():
        setattr(world.programme, name, value)
    world.programme.save(update_fields=list(programme_settings))
    return raise_signal(
        source="survey",
        source_key="survey:answer",
        severity="high",
        categories=["suicide"],
        enrolment=Enrolment.objects.get(pk=world.own.pk),
    )


def test_the_steps_are_the_programmes_setting(world: World, rota: Any, time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    alert = open_alert(world, alert_escalation_minutes=[3, 7])
    assert escalate_due_alerts(now=minutes(3)) == 1
    assert escalate_due_alerts(now=minutes(7)) == 1
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.next_escalation_at) == (2, None)


def test_steps_that_are_not_positive_whole_minutes_are_ignored(
    world: World, rota: Any, time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    alert = open_alert(world, alert_escalation_minutes=["5", -5, 0, 2.5, True, None, 15])
    alert.refresh_from_db()
    assert alert.next_escalation_at == minutes(15)


@pytest.mark.parametrize("setting", [10, "10", {"1": 10}], ids=["int", "str", "dict"])
def test_a_malformed_steps_setting_still_opens_the_alert_with_the_default_steps(
    world: World, time_machine: Any, setting: object
) -> None:
    time_machine.move_to(T0, tick=False)
    alert = open_alert(world, alert_escalation_minutes=setting)
    alert.refresh_from_db()
    assert alert.next_escalation_at == minutes(10)


def test_a_malformed_steps_setting_does_not_lose_the_persons_message(
    world: World, time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    Programme.objects.filter(pk=world.programme.pk).update(alert_escalation_minutes=10)
    post_message(
        conversation_id=Conversation.objects.get(enrolment=world.own).pk,
        sender=world.own.participant.user,
        sender_role="participant",
        channel="sms",
        body="I want to die tonight",
        client_id="risky",
    )
    assert Message.objects.filter(client_id="risky").exists()
    assert RiskAlert.objects.filter(enrolment=world.own).exists()


def test_the_beat_task_escalates_what_is_due_now(
    alert: RiskAlert, rota: tuple[User, User], time_machine: Any
) -> None:
    time_machine.move_to(minutes(10), tick=False)
    assert escalate_alerts() == 1
    assert texted() == [rota[0].pk]


def test_the_management_command_takes_one_tick(
    alert: RiskAlert, rota: tuple[User, User], time_machine: Any
) -> None:
    time_machine.move_to(minutes(10), tick=False)
    out = StringIO()
    call_command("escalate_alerts", stdout=out)
    assert out.getvalue().strip() == "1 escalation step(s) taken"


# --- Acknowledging stops it -----------------------------------------------------------------


def test_acknowledging_before_the_first_step_stops_escalation(
    world: World, alert: RiskAlert, rota: Any, time_machine: Any
) -> None:
    time_machine.move_to(minutes(5), tick=False)
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    assert escalate_due_alerts(now=minutes(10)) == 0
    assert escalate_due_alerts(now=minutes(20)) == 0
    assert texted() == []


def test_acknowledging_after_level_one_stops_level_two(
    world: World, alert: RiskAlert, rota: tuple[User, User], time_machine: Any
) -> None:
    escalate_due_alerts(now=minutes(10))
    time_machine.move_to(minutes(12), tick=False)
    acknowledge_alert(alert_id=alert.pk, by=rota[0])
    assert escalate_due_alerts(now=minutes(20)) == 0
    assert texted() == [rota[0].pk]


def test_a_resolved_alert_is_not_escalated(
    world: World, alert: RiskAlert, rota: Any, time_machine: Any
) -> None:
    time_machine.move_to(minutes(2), tick=False)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="false_positive")
    assert escalate_due_alerts(now=minutes(10)) == 0
    assert texted() == []


# --- Who is texted ----------------------------------------------------------------------------


def test_every_supervisor_on_call_at_the_level_is_texted(
    world: World, alert: RiskAlert, backup: User
) -> None:
    on_call(world.programme, world.supervisor, level=1)
    on_call(world.programme, backup, level=1, starts=-30)
    escalate_due_alerts(now=minutes(10))
    # Longest-serving shift first.
    assert texted() == [world.supervisor.pk, backup.pk]


def test_the_level_two_supervisor_is_not_texted_at_the_first_step(
    alert: RiskAlert, rota: tuple[User, User]
) -> None:
    escalate_due_alerts(now=minutes(10))
    assert rota[1].pk not in texted()


def test_with_no_supervisor_reachable_the_step_is_recorded_unreachable(
    world: World, alert: RiskAlert
) -> None:
    on_call(world.programme, world.supervisor, level=1, phone=False)
    escalate_due_alerts(now=minutes(10))
    assert texted() == []
    [step] = steps_of(alert)
    details = {
        "level": 1,
        "texted": [],
        "no_phone": [world.supervisor.pk],
        "reached": "all_supervisors",
    }
    assert (step.kind, step.details) == ("escalation_unreachable", details)
    [entry] = audited(alert, "risk_alert.escalation_unreachable")
    assert entry.details == details


def test_an_unreachable_step_is_tried_again_five_minutes_later(
    world: World, alert: RiskAlert
) -> None:
    on_call(world.programme, world.supervisor, level=1, phone=False)
    escalate_due_alerts(now=minutes(10))
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.next_escalation_at) == (0, minutes(15))
    set_staff_phone(user=world.supervisor, phone=fictional_phone(), changed_by=None)
    escalate_due_alerts(now=minutes(15))
    assert texted() == [world.supervisor.pk]
    alert.refresh_from_db()
    assert alert.escalation_level == 1


def test_one_supervisor_without_a_number_does_not_stop_the_others_being_texted(
    world: World, alert: RiskAlert, backup: User
) -> None:
    on_call(world.programme, world.supervisor, level=1, phone=False)
    on_call(world.programme, backup, level=1, starts=-30)
    escalate_due_alerts(now=minutes(10))
    assert texted() == [backup.pk]
    [step] = steps_of(alert)
    assert (step.kind, step.details["no_phone"]) == ("escalated", [world.supervisor.pk])


def test_a_level_with_nobody_on_call_falls_back_to_whoever_is_on_call(
    world: World, alert: RiskAlert, backup: User
) -> None:
    on_call(world.programme, backup, level=2)
    escalate_due_alerts(now=minutes(10))
    [step] = steps_of(alert)
    assert (step.kind, step.details) == (
        "escalated",
        {"level": 1, "texted": [backup.pk], "no_phone": [], "reached": "on_call_other_level"},
    )


def test_with_nobody_on_call_every_supervisor_with_a_phone_is_texted(
    world: World, alert: RiskAlert, backup: User
) -> None:
    set_staff_phone(user=backup, phone=fictional_phone(), changed_by=None)
    escalate_due_alerts(now=minutes(10))
    assert texted() == [backup.pk]
    assert steps_of(alert)[0].details["reached"] == "all_supervisors"


def test_an_on_call_supervisor_on_leave_is_not_texted(
    world: World, alert: RiskAlert, rota: tuple[User, User]
) -> None:
    record_leave(user=rota[0], starts_at=minutes(-30), ends_at=minutes(24 * 60), recorded_by=None)
    escalate_due_alerts(now=minutes(10))
    assert texted() == [rota[1].pk]  # the level-2 supervisor, the only one on call
    assert steps_of(alert)[0].details["reached"] == "on_call_other_level"


def test_a_shift_that_has_ended_does_not_count_as_on_call(world: World, alert: RiskAlert) -> None:
    on_call(world.programme, world.supervisor, level=1, starts=-60, ends=5)
    escalate_due_alerts(now=minutes(10))
    # Still texted (a supervisor of the programme with a phone), but not as the on-call one.
    assert texted() == [world.supervisor.pk]
    assert steps_of(alert)[0].details["reached"] == "all_supervisors"


def test_a_shift_that_starts_after_the_alert_opened_is_texted(
    world: World, alert: RiskAlert
) -> None:
    on_call(world.programme, world.supervisor, level=1, starts=8, ends=60)
    escalate_due_alerts(now=minutes(10))
    assert texted() == [world.supervisor.pk]


def test_another_programmes_on_call_supervisor_is_not_texted(
    world: World, alert: RiskAlert
) -> None:
    other = make_programme("other")
    on_call(other, make_staff(other, Role.SUPERVISOR), level=1)
    escalate_due_alerts(now=minutes(10))
    assert texted() == []
