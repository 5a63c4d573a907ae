"""Escalation and signals under concurrency, on PostgreSQL (SKIP LOCKED and row locks are what
is tested; SQLite has one writer at a time and proves nothing here): two sweepers over the
same due alerts text each step exactly once; two signals about one person at once open one
alert; the same signal twice at once is kept once."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEntry
from messaging.models import Conversation, OutboxPurpose, SmsOutbox
from messaging.risk import services as risk_services
from messaging.risk.models import (
    AlertEventKind,
    RiskAlert,
    RiskAlertEvent,
    RiskAlertNote,
    RiskSignal,
)
from messaging.risk.services import escalate_due_alerts, flag_message, raise_signal
from messaging.services import post_message
from staffing.services import add_on_call_shift, set_staff_phone, staff_phone
from tests.conftest import using_postgres
from tests.support.concurrency import at_once
from tests.support.factories import enrol, fictional_phone, make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not using_postgres(), reason="row locks: PEERLINK_TEST_DB=postgres"),
]

T0 = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)
ALERTS = 200


def test_two_sweepers_escalate_each_of_200_due_alerts_exactly_once(
    transactional_db: None, time_machine: Any, fake_twilio: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    world = make_world()
    add_on_call_shift(
        programme=world.programme,
        supervisor=world.supervisor,
        starts_at=T0 - dt.timedelta(hours=1),
        ends_at=T0 + dt.timedelta(hours=8),
        level=1,
        created_by=None,
    )
    set_staff_phone(user=world.supervisor, phone=fictional_phone(), changed_by=None)
    for index in range(ALERTS):
        raise_signal(
            source="survey",
            source_key=f"survey:{index}",
            severity="high",
            categories=["suicide"],
            enrolment=enrol(world.programme, peer_support=None),
            send_crisis_reply=False,
        )
    assert RiskAlert.objects.filter(status="open").count() == ALERTS

    now = T0 + dt.timedelta(minutes=15)  # level 1 due, level 2 not yet
    taken = at_once(lambda: escalate_due_alerts(now=now), lambda: escalate_due_alerts(now=now))

    assert sum(taken) == ALERTS
    levels = Counter(RiskAlert.objects.values_list("escalation_level", flat=True))
    assert levels == {1: ALERTS}
    steps = Counter(
        RiskAlertEvent.objects.filter(kind=AlertEventKind.ESCALATED).values_list(
            "alert_id", flat=True
        )
    )
    assert len(steps) == ALERTS
    assert set(steps.values()) == {1}
    audited = Counter(
        AuditEntry.objects.filter(action="risk_alert.escalated").values_list("target_id", flat=True)
    )
    assert len(audited) == ALERTS
    assert set(audited.values()) == {1}
    outbox = SmsOutbox.objects.filter(purpose=OutboxPurpose.ESCALATION)
    assert outbox.count() == ALERTS
    assert set(outbox.values_list("staff_id", flat=True)) == {world.supervisor.pk}
    assert set(outbox.values_list("status", flat=True)) == {"sent"}
    phone = staff_phone(world.supervisor.pk)
    assert len([s for s in fake_twilio.sent if s.to == phone]) == ALERTS


def test_two_signals_about_one_person_at_once_open_one_alert(transactional_db: None) -> None:
    world = make_world()

    def signal(key: str) -> Callable[[], RiskAlert]:
        return lambda: raise_signal(
            source="survey",
            source_key=key,
            severity="high",
            categories=["suicide"],
            enrolment=world.own,
        )

    first, second = at_once(signal("survey:a"), signal("survey:b"))
    assert first.pk == second.pk
    assert RiskAlert.objects.count() == 1
    assert RiskSignal.objects.filter(alert_id=first.pk).count() == 2
    kinds = Counter(RiskAlertEvent.objects.values_list("kind", flat=True))
    assert (kinds[AlertEventKind.OPENED], kinds[AlertEventKind.SIGNAL]) == (1, 1)


@pytest.fixture
def overlapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests are held until each has got as far as the person's lock, so that they
    truly overlap (the race a double-clicked flag button or a redelivered task runs)."""
    both_there = threading.Barrier(2)
    waited = threading.local()
    lock_subject = risk_services._lock_subject

    def lock_once_both_are_there(*args: Any) -> None:
        if not getattr(waited, "done", False):  # the first lock each request takes
            waited.done = True
            both_there.wait(timeout=30)
        lock_subject(*args)

    monkeypatch.setattr(risk_services, "_lock_subject", lock_once_both_are_there)


def test_the_same_signal_twice_at_once_is_kept_once(
    transactional_db: None, overlapping: None
) -> None:
    world = make_world()

    def signal() -> RiskAlert:
        return raise_signal(
            source="survey",
            source_key="survey:session-1:item-9",
            severity="high",
            categories=["suicide"],
            enrolment=world.own,
        )

    first, second = at_once(signal, signal)
    assert first.pk == second.pk
    assert RiskSignal.objects.count() == 1
    assert AuditEntry.objects.filter(action__startswith="risk_alert.signal").count() == 0


def test_the_same_flag_twice_at_once_is_one_signal(
    transactional_db: None, overlapping: None
) -> None:
    world = make_world()
    message = post_message(
        conversation_id=Conversation.objects.get(enrolment=world.own).pk,
        sender=world.own.participant.user,
        sender_role="participant",
        channel="sms",
        body="An ordinary day.",
        client_id="ordinary",
    ).message

    def flag() -> RiskAlert:
        return flag_message(message_id=message.id, by=world.peer, note="Worried by this.")

    first, second = at_once(flag, flag)
    assert first.pk == second.pk
    assert RiskSignal.objects.count() == 1
    assert RiskAlertNote.objects.count() == 1
    actions = Counter(
        AuditEntry.objects.filter(action__startswith="risk_alert.").values_list("action", flat=True)
    )
    assert actions == {"risk_alert.opened": 1, "risk_alert.note_added": 1}
