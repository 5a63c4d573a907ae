"""A risk alert's life: open -> acknowledged -> resolved, who may do each, who did what when
(the alert's timeline and the audit log), and bad input (an unknown resolution, resolving
twice, a role that may not, an alert that does not exist or is not visible) refused with a
clear code and nothing written. Also `texts_paused_for`, which follows the alert's status."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from audit.models import AuditEntry
from audit.selectors import verify_chain
from messaging.models import InboundSms, IntakeReason, Message, SmsIntake, SmsOutbox
from messaging.risk.models import (
    AlertEventKind,
    AlertStatus,
    RiskAlert,
    RiskAlertEvent,
    RiskAlertNote,
    RiskSignal,
)
from messaging.risk.selectors import alert_detail, texts_paused_for
from messaging.risk.services import (
    acknowledge_alert,
    raise_signal,
    resolve_alert,
    risk_alert_resolved,
)
from messaging.sms import simulate
from messaging.sms.intake import record_intake
from peerlink.errors import Conflict, DomainError, NotFound
from people.models import User
from programmes.models import Enrolment, HandoffReason, Role
from programmes.services import assign_peer_supporter
from tests.support.factories import World, fictional_phone, make_programme, make_staff

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def open_alert(enrolment: Enrolment, key: str = "survey:1") -> RiskAlert:
    return raise_signal(
        source="survey",
        source_key=key,
        severity="high",
        categories=["suicide"],
        enrolment=enrolment,
    )


@pytest.fixture
def alert(world: World, time_machine: Any) -> RiskAlert:
    time_machine.move_to(T0, tick=False)
    return open_alert(world.own)


def fresh(alert: RiskAlert) -> RiskAlert:
    return RiskAlert.objects.get(pk=alert.pk)


def kinds(alert: RiskAlert) -> list[str]:
    return list(RiskAlertEvent.objects.filter(alert=alert).values_list("kind", flat=True))


def audited(alert: RiskAlert, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, target_id=str(alert.pk)).order_by("id"))


def written() -> dict[str, Any]:
    """Every row a lifecycle write can leave behind, and the alerts' own state."""
    return {
        "alerts": list(
            RiskAlert.objects.order_by("pk").values_list(
                "pk", "status", "acknowledged_by", "resolved_by", "resolution", "next_escalation_at"
            )
        ),
        "signals": RiskSignal.objects.count(),
        "events": RiskAlertEvent.objects.count(),
        "notes": RiskAlertNote.objects.count(),
        "audit": AuditEntry.objects.count(),
        "messages": Message.objects.count(),
        "outbox": SmsOutbox.objects.count(),
    }


@pytest.fixture
def outsider_supervisor(world: World) -> User:
    """A supervisor of another programme."""
    other = make_programme("other")
    return make_staff(other, Role.SUPERVISOR, "elsewhere")


@pytest.fixture
def another_supervisor(world: World) -> User:
    """A supervisor of the same programme who does not supervise the person's team."""
    return make_staff(world.programme, Role.SUPERVISOR, "night-supervisor")


# --- Acknowledge ----------------------------------------------------------------------------


def test_acknowledging_marks_the_alert_acknowledged_by_whom_and_when(
    world: World, alert: RiskAlert, time_machine: Any
) -> None:
    time_machine.move_to(minutes(7), tick=False)
    acknowledge_alert(alert_id=alert.pk, by=world.supervisor)
    alert = fresh(alert)
    assert (alert.status, alert.acknowledged_by_id, alert.acknowledged_at) == (
        AlertStatus.ACKNOWLEDGED,
        world.supervisor.pk,
        minutes(7),
    )
    assert alert.next_escalation_at is None


def test_acknowledging_is_audited_with_how_long_the_alert_waited(
    world: World, alert: RiskAlert, time_machine: Any
) -> None:
    time_machine.move_to(minutes(7) + dt.timedelta(seconds=59), tick=False)
    acknowledge_alert(alert_id=alert.pk, by=world.supervisor)
    [entry] = audited(alert, "risk_alert.acknowledged")
    assert (entry.actor_id, entry.details) == (world.supervisor.pk, {"minutes_open": 7})
    event = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.ACKNOWLEDGED)
    assert event.actor_id == world.supervisor.pk


def test_the_assigned_peer_supporter_may_acknowledge(world: World, alert: RiskAlert) -> None:
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    assert fresh(alert).acknowledged_by_id == world.peer.pk


def test_any_supervisor_of_the_programme_may_acknowledge(
    alert: RiskAlert, another_supervisor: User
) -> None:
    acknowledge_alert(alert_id=alert.pk, by=another_supervisor)
    assert fresh(alert).acknowledged_by_id == another_supervisor.pk


def test_acknowledging_again_changes_nothing(world: World, alert: RiskAlert) -> None:
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    before = written()
    again = acknowledge_alert(alert_id=alert.pk, by=world.supervisor)
    assert written() == before
    assert again.acknowledged_by_id == world.peer.pk


def test_acknowledging_a_resolved_alert_changes_nothing(world: World, alert: RiskAlert) -> None:
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
    before = written()
    assert acknowledge_alert(alert_id=alert.pk, by=world.peer).status == AlertStatus.RESOLVED
    assert written() == before


@pytest.mark.parametrize(
    "who", ["other_peer", "evaluator", "admin", "participant", "outsider_supervisor"]
)
def test_a_user_who_may_not_see_the_alert_cannot_acknowledge_it(
    world: World, alert: RiskAlert, who: str, request: pytest.FixtureRequest
) -> None:
    user = {
        "other_peer": lambda: world.other_peer,
        "evaluator": lambda: world.evaluator,
        "admin": lambda: world.admin,
        "participant": lambda: world.own.participant.user,
        "outsider_supervisor": lambda: request.getfixturevalue("outsider_supervisor"),
    }[who]()
    before = written()
    with pytest.raises(NotFound) as refused:
        acknowledge_alert(alert_id=alert.pk, by=user)
    assert (refused.value.code, refused.value.http_status) == ("not_found", 404)
    assert written() == before


@pytest.mark.parametrize("alert_id", [uuid.uuid4(), "not-a-uuid", "", 42])
def test_acknowledging_an_alert_that_does_not_exist_is_not_found(
    world: World, alert: RiskAlert, alert_id: object
) -> None:
    before = written()
    with pytest.raises(NotFound) as refused:
        acknowledge_alert(alert_id=alert_id, by=world.supervisor)  # type: ignore[arg-type]
    assert refused.value.code == "not_found"
    assert written() == before


def test_a_peer_supporter_handed_off_the_person_can_no_longer_acknowledge(
    world: World, alert: RiskAlert
) -> None:
    assign_peer_supporter(
        enrolment=world.own,
        peer_supporter=world.other_peer,
        assigned_by=world.supervisor,
        reason=HandoffReason.OTHER,
    )
    with pytest.raises(NotFound):
        acknowledge_alert(alert_id=alert.pk, by=world.peer)
    acknowledge_alert(alert_id=alert.pk, by=world.other_peer)
    assert fresh(alert).acknowledged_by_id == world.other_peer.pk


# --- Resolve --------------------------------------------------------------------------------


def test_resolving_closes_the_alert_with_what_happened(
    world: World, alert: RiskAlert, time_machine: Any
) -> None:
    time_machine.move_to(minutes(30), tick=False)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="support_arranged")
    alert = fresh(alert)
    assert (alert.status, alert.resolution, alert.resolved_by_id, alert.resolved_at) == (
        AlertStatus.RESOLVED,
        "support_arranged",
        world.supervisor.pk,
        minutes(30),
    )
    assert alert.next_escalation_at is None


def test_resolving_is_audited_and_on_the_timeline(world: World, alert: RiskAlert) -> None:
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
    [entry] = audited(alert, "risk_alert.resolved")
    assert (entry.actor_id, entry.details) == (world.supervisor.pk, {"resolution": "safe"})
    event = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.RESOLVED)
    assert (event.actor_id, event.details) == (world.supervisor.pk, {"resolution": "safe"})


def test_resolving_an_unacknowledged_alert_records_the_resolver_as_acknowledging_it(
    world: World, alert: RiskAlert, time_machine: Any
) -> None:
    time_machine.move_to(minutes(4), tick=False)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="false_positive")
    alert = fresh(alert)
    assert (alert.acknowledged_by_id, alert.acknowledged_at) == (world.supervisor.pk, minutes(4))


def test_resolving_an_acknowledged_alert_keeps_who_acknowledged_it(
    world: World, alert: RiskAlert, time_machine: Any
) -> None:
    time_machine.move_to(minutes(2), tick=False)
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    time_machine.move_to(minutes(40), tick=False)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
    alert = fresh(alert)
    assert (alert.acknowledged_by_id, alert.acknowledged_at) == (world.peer.pk, minutes(2))


def test_any_supervisor_of_the_programme_may_resolve(
    alert: RiskAlert, another_supervisor: User
) -> None:
    resolve_alert(alert_id=alert.pk, by=another_supervisor, resolution="safe")
    assert fresh(alert).resolved_by_id == another_supervisor.pk


def test_the_whole_life_is_on_the_timeline_in_order(
    world: World, alert: RiskAlert, time_machine: Any
) -> None:
    time_machine.move_to(minutes(3), tick=False)
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    time_machine.move_to(minutes(9), tick=False)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe", note="Spoke to them.")
    assert kinds(alert) == [
        AlertEventKind.OPENED,
        AlertEventKind.CRISIS_REPLY,
        AlertEventKind.NOTIFIED,
        AlertEventKind.ACKNOWLEDGED,
        AlertEventKind.NOTE,
        AlertEventKind.RESOLVED,
    ]
    assert [e["kind"] for e in alert_detail(fresh(alert))["events"]] == kinds(alert)


def test_the_whole_life_leaves_the_audit_chain_intact(world: World, alert: RiskAlert) -> None:
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe", note="Safe.")
    assert verify_chain().intact


def test_risk_alert_resolved_is_sent_after_commit(
    world: World, alert: RiskAlert, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[uuid.UUID] = []

    def receiver(sender: Any, alert_id: uuid.UUID, **kwargs: Any) -> None:
        heard.append(alert_id)

    risk_alert_resolved.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
            assert heard == []
    finally:
        risk_alert_resolved.disconnect(receiver)
    assert heard == [alert.pk]


def test_resolving_twice_is_refused_and_writes_nothing(world: World, alert: RiskAlert) -> None:
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
    before = written()
    with pytest.raises(Conflict) as refused:
        resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="emergency", note="x")
    assert (refused.value.code, refused.value.http_status) == ("already_resolved", 409)
    assert written() == before
    assert fresh(alert).resolution == "safe"


@pytest.mark.parametrize("resolution", ["", "fine", "SAFE", "safe ", None])
def test_an_unknown_resolution_is_refused_and_writes_nothing(
    world: World, alert: RiskAlert, resolution: Any
) -> None:
    before = written()
    with pytest.raises(DomainError) as refused:
        resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution=resolution)
    assert (refused.value.code, refused.value.http_status) == ("invalid_resolution", 400)
    assert written() == before


def test_the_assigned_peer_supporter_may_not_resolve(world: World, alert: RiskAlert) -> None:
    before = written()
    with pytest.raises(DomainError) as refused:
        resolve_alert(alert_id=alert.pk, by=world.peer, resolution="safe", note="All fine.")
    assert (refused.value.code, refused.value.http_status) == ("forbidden", 403)
    assert written() == before


@pytest.mark.parametrize("who", ["other_peer", "evaluator", "admin", "outsider_supervisor"])
def test_a_user_who_may_not_see_the_alert_cannot_resolve_it(
    world: World, alert: RiskAlert, who: str, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(who) if who == "outsider_supervisor" else getattr(world, who)
    before = written()
    with pytest.raises(NotFound):
        resolve_alert(alert_id=alert.pk, by=user, resolution="safe")
    assert written() == before


def test_resolving_an_alert_that_does_not_exist_is_not_found(
    world: World, alert: RiskAlert
) -> None:
    before = written()
    with pytest.raises(NotFound):
        resolve_alert(alert_id=uuid.uuid4(), by=world.supervisor, resolution="safe")
    assert written() == before


def test_resolving_with_an_oversized_note_is_refused_and_the_alert_stays_open(
    world: World, alert: RiskAlert
) -> None:
    before = written()
    with pytest.raises(DomainError) as refused:
        resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe", note="x" * 4001)
    assert refused.value.code == "body_too_long"
    assert written() == before
    assert fresh(alert).status == AlertStatus.OPEN


# --- Alerts about unknown numbers -----------------------------------------------------------


@pytest.fixture
def intake_alert(world: World) -> RiskAlert:
    inbound = InboundSms.objects.create(message_sid=simulate.new_message_sid(), received_at=T0)
    intake: SmsIntake = record_intake(
        inbound=inbound,
        reason=IntakeReason.UNKNOWN_SENDER,
        phone=fictional_phone(),
        body="I want to die tonight",
        programme=None,
    )
    return RiskAlert.objects.get(intake=intake)


def test_any_supervisor_may_resolve_an_alert_about_an_unknown_number(
    intake_alert: RiskAlert, outsider_supervisor: User
) -> None:
    resolve_alert(alert_id=intake_alert.pk, by=outsider_supervisor, resolution="unreachable")
    assert fresh(intake_alert).status == AlertStatus.RESOLVED


def test_a_peer_supporter_cannot_see_an_alert_about_an_unknown_number(
    world: World, intake_alert: RiskAlert
) -> None:
    with pytest.raises(NotFound):
        acknowledge_alert(alert_id=intake_alert.pk, by=world.peer)


# --- Supportive texts pause while an alert is unresolved -------------------------------------


def test_texts_are_paused_while_an_alert_is_open(world: World, alert: RiskAlert) -> None:
    assert texts_paused_for(world.own)


def test_texts_stay_paused_once_the_alert_is_acknowledged(world: World, alert: RiskAlert) -> None:
    acknowledge_alert(alert_id=alert.pk, by=world.peer)
    assert texts_paused_for(world.own)


def test_texts_resume_once_the_alert_is_resolved(world: World, alert: RiskAlert) -> None:
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
    assert not texts_paused_for(world.own)


def test_texts_are_not_paused_for_someone_else(world: World, alert: RiskAlert) -> None:
    assert not texts_paused_for(world.others)


def test_texts_are_not_paused_when_the_programme_says_so(world: World, alert: RiskAlert) -> None:
    world.programme.pause_texts_during_alert = False
    world.programme.save(update_fields=["pause_texts_during_alert"])
    assert not texts_paused_for(Enrolment.objects.get(pk=world.own.pk))
