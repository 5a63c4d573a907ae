"""`raise_signal`, the one way a worry enters (DESIGN.md §3, data flow 6), and `flag_message`,
a staff member's way in: idempotent on the signal's natural key, one unresolved alert per
person that later signals join, every step on the alert's timeline and in the audit log, and
bad input refused with a clear code and nothing written."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django.db import transaction

from audit.models import AuditEntry
from messaging.models import Conversation, Message, SmsOutbox
from messaging.risk.models import (
    AlertEventKind,
    AlertStatus,
    RiskAlert,
    RiskAlertEvent,
    RiskAlertNote,
    RiskSignal,
)
from messaging.risk.selectors import unresolved_alerts_for_socket
from messaging.risk.services import (
    MAX_FLAG_NOTE_CHARS,
    acknowledge_alert,
    flag_message,
    raise_signal,
    resolve_alert,
    risk_alert_opened,
)
from messaging.services import post_message
from peerlink.errors import DomainError, NotFound
from programmes.models import Enrolment
from tests.support.factories import World

pytestmark = pytest.mark.django_db


def conversation_of(enrolment: Enrolment) -> Conversation:
    return Conversation.objects.get(enrolment=enrolment)


def signal(
    enrolment: Enrolment,
    key: str,
    *,
    severity: str = "high",
    categories: tuple[str, ...] = ("suicide",),
    **extra: Any,
) -> RiskAlert:
    return raise_signal(
        source="survey",
        source_key=key,
        severity=severity,
        categories=list(categories),
        enrolment=enrolment,
        **extra,
    )


def participant_message(enrolment: Enrolment, body: str = "An ordinary day.") -> Message:
    return post_message(
        conversation_id=conversation_of(enrolment).pk,
        sender=enrolment.participant.user,
        sender_role="participant",
        channel="sms",
        body=body,
        client_id=f"c-{uuid.uuid4().hex[:12]}",
    ).message


def kinds(alert: RiskAlert) -> list[str]:
    return list(RiskAlertEvent.objects.filter(alert=alert).values_list("kind", flat=True))


def audited(alert: RiskAlert) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(target_type="risk.riskalert", target_id=str(alert.pk)).order_by(
            "id"
        )
    )


def written() -> dict[str, int]:
    """Every row a risk write can leave behind, per table."""
    return {
        "alerts": RiskAlert.objects.count(),
        "signals": RiskSignal.objects.count(),
        "events": RiskAlertEvent.objects.count(),
        "notes": RiskAlertNote.objects.count(),
        "audit": AuditEntry.objects.filter(action__startswith="risk_alert.").count(),
        "messages": Message.objects.count(),
        "outbox": SmsOutbox.objects.count(),
    }


# --- Opening ------------------------------------------------------------------------------


def test_a_first_signal_opens_an_alert_about_the_person(world: World) -> None:
    alert = signal(world.own, "survey:1")
    alert.refresh_from_db()
    assert (alert.programme_id, alert.enrolment_id, alert.intake_id) == (
        world.programme.pk,
        world.own.pk,
        None,
    )
    assert (alert.status, alert.severity, alert.categories) == ("open", "high", ["suicide"])
    assert (alert.escalation_level, alert.acknowledged_at, alert.resolved_at) == (0, None, None)
    stored = RiskSignal.objects.get()
    assert (stored.alert_id, stored.source, stored.source_key) == (alert.pk, "survey", "survey:1")


def test_opening_an_alert_is_audited_with_ids_and_codes_only(world: World) -> None:
    alert = signal(world.own, "survey:1", categories=("suicide", "self_harm"))
    opened = audited(alert)[0]
    assert opened.action == "risk_alert.opened"
    assert opened.actor_id is None
    assert opened.details == {
        "signal": RiskSignal.objects.get().pk,
        "source": "survey",
        "severity": "high",
        "categories": ["self_harm", "suicide"],
    }


def test_an_opened_alert_records_opened_crisis_reply_and_notified_on_its_timeline(
    world: World,
) -> None:
    alert = signal(world.own, "survey:1")
    assert kinds(alert) == [
        AlertEventKind.OPENED,
        AlertEventKind.CRISIS_REPLY,
        AlertEventKind.NOTIFIED,
    ]
    assert [entry.action for entry in audited(alert)] == [
        "risk_alert.opened",
        "risk_alert.crisis_reply",
    ]


def test_the_first_escalation_is_due_at_the_programmes_first_step(world: World) -> None:
    alert = signal(world.own, "survey:1")
    alert.refresh_from_db()
    assert alert.next_escalation_at is not None
    assert (alert.next_escalation_at - alert.opened_at).total_seconds() == 10 * 60


def test_an_alert_with_no_escalation_steps_is_never_due(world: World) -> None:
    world.programme.alert_escalation_minutes = []
    world.programme.save(update_fields=["alert_escalation_minutes"])
    alert = signal(world.own, "survey:1")
    alert.refresh_from_db()
    assert alert.next_escalation_at is None


def test_risk_alert_opened_is_sent_once_after_commit(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[uuid.UUID] = []

    def receiver(sender: Any, alert_id: uuid.UUID, **kwargs: Any) -> None:
        heard.append(alert_id)

    risk_alert_opened.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            alert = signal(world.own, "survey:1")
            assert heard == []  # not before commit
        with django_capture_on_commit_callbacks(execute=True):
            signal(world.own, "survey:2")  # joins: nothing new opened
    finally:
        risk_alert_opened.disconnect(receiver)
    assert heard == [alert.pk]


def test_risk_alert_opened_is_not_sent_when_the_transaction_rolls_back(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[uuid.UUID] = []

    def receiver(sender: Any, alert_id: uuid.UUID, **kwargs: Any) -> None:
        heard.append(alert_id)

    risk_alert_opened.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            signal(world.own, "survey:1")
            transaction.set_rollback(True)
    finally:
        risk_alert_opened.disconnect(receiver)
    assert heard == []
    assert RiskAlert.objects.count() == 0


# --- Idempotency and joining ----------------------------------------------------------------


def test_the_same_source_key_twice_is_one_signal_and_changes_nothing(world: World) -> None:
    first = signal(world.own, "survey:1")
    before = written()
    again = signal(world.own, "survey:1", severity="medium", categories=("self_harm",))
    assert again.pk == first.pk
    assert written() == before
    first.refresh_from_db()
    assert (first.severity, first.categories) == ("high", ["suicide"])


def test_a_later_signal_joins_the_unresolved_alert(world: World) -> None:
    first = signal(world.own, "survey:1")
    second = signal(world.own, "survey:2")
    assert second.pk == first.pk
    assert RiskAlert.objects.count() == 1
    assert set(RiskSignal.objects.values_list("alert_id", flat=True)) == {first.pk}
    assert RiskSignal.objects.count() == 2


def test_a_joining_signal_is_audited_and_on_the_timeline_as_a_signal(world: World) -> None:
    alert = signal(world.own, "survey:1")
    signal(world.own, "survey:2")
    actions = [entry.action for entry in audited(alert)]
    assert actions.count("risk_alert.opened") == 1
    assert actions.count("risk_alert.signal") == 1
    joined = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.SIGNAL)
    assert joined.details["signal"] == RiskSignal.objects.get(source_key="survey:2").pk


def test_a_joining_signal_adds_its_categories(world: World) -> None:
    alert = signal(world.own, "survey:1", categories=("suicide",))
    signal(world.own, "survey:2", categories=("self_harm", "suicide"))
    alert.refresh_from_db()
    assert alert.categories == ["self_harm", "suicide"]


def test_a_joining_signal_raises_the_severity(world: World) -> None:
    alert = signal(world.own, "survey:1", severity="medium")
    signal(world.own, "survey:2", severity="high")
    alert.refresh_from_db()
    assert alert.severity == "high"


def test_a_joining_signal_never_lowers_the_severity(world: World) -> None:
    alert = signal(world.own, "survey:1", severity="high")
    signal(world.own, "survey:2", severity="medium")
    alert.refresh_from_db()
    assert alert.severity == "high"


def test_a_signal_joins_an_acknowledged_alert(world: World) -> None:
    alert = signal(world.own, "survey:1")
    acknowledge_alert(alert_id=alert.pk, by=world.supervisor)
    assert signal(world.own, "survey:2").pk == alert.pk
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_a_signal_after_resolution_opens_a_new_alert(world: World) -> None:
    first = signal(world.own, "survey:1")
    resolve_alert(alert_id=first.pk, by=world.supervisor, resolution="safe")
    second = signal(world.own, "survey:2")
    assert second.pk != first.pk
    assert RiskAlert.objects.get(pk=first.pk).status == AlertStatus.RESOLVED
    assert RiskAlert.objects.get(pk=second.pk).status == AlertStatus.OPEN


def test_the_same_source_key_after_resolution_still_opens_nothing(world: World) -> None:
    first = signal(world.own, "survey:1")
    resolve_alert(alert_id=first.pk, by=world.supervisor, resolution="safe")
    assert signal(world.own, "survey:1").pk == first.pk
    assert RiskAlert.objects.count() == 1


def test_signals_about_different_people_open_separate_alerts(world: World) -> None:
    own = signal(world.own, "survey:1")
    others = signal(world.others, "survey:2")
    assert own.pk != others.pk
    assert {a.enrolment_id for a in RiskAlert.objects.all()} == {world.own.pk, world.others.pk}


# --- Alerts are never lost ------------------------------------------------------------------


@pytest.fixture
def redis_down(settings: Any) -> Iterator[None]:
    """A Redis channel layer pointed at a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_an_alert_opened_while_redis_is_down_is_still_in_the_database(
    world: World, redis_down: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = participant_message(world.own, "I want to die tonight")
    assert callbacks, "the doorbells were rung (and failed quietly)"
    alert = RiskAlert.objects.get(enrolment=world.own)
    assert RiskSignal.objects.get(alert=alert).message_id == message.id
    # A staff socket that connects later is told of it from the database.
    assert [a["id"] for a in unresolved_alerts_for_socket(world.supervisor)] == [str(alert.pk)]


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "severity", "categories"),
    [
        ("rumour", "high", ["suicide"]),
        ("survey", "critical", ["suicide"]),
        ("survey", "", ["suicide"]),
        ("survey", "high", ["sadness"]),
        ("survey", "high", ["suicide", "sadness"]),
        ("survey", "high", []),
    ],
    ids=[
        "unknown-source",
        "unknown-severity",
        "empty-severity",
        "unknown-category",
        "one-unknown-category",
        "no-category",
    ],
)
def test_a_signal_with_unknown_codes_is_refused_and_writes_nothing(
    world: World, source: str, severity: str, categories: list[str]
) -> None:
    before = written()
    with pytest.raises(DomainError) as refused:
        raise_signal(
            source=source,
            source_key="survey:bad",
            severity=severity,
            categories=categories,
            enrolment=world.own,
        )
    assert refused.value.code == "invalid_signal"
    assert written() == before


def test_a_signal_about_nobody_is_a_programming_error(world: World) -> None:
    with pytest.raises(ValueError, match="one enrolment or one intake"):
        raise_signal(source="survey", source_key="k", severity="high", categories=["suicide"])
    assert RiskAlert.objects.count() == 0


# --- Flags ----------------------------------------------------------------------------------


def test_a_flag_opens_an_alert_raised_by_the_staff_member(world: World) -> None:
    message = participant_message(world.own)
    alert = flag_message(message_id=message.id, by=world.peer, category="self_harm")
    stored = RiskSignal.objects.get(alert=alert)
    assert (stored.source, stored.source_key, stored.raised_by_id, stored.message_id) == (
        "peer_flag",
        f"flag:{message.id}:{world.peer.pk}",
        world.peer.pk,
        message.id,
    )
    assert (alert.categories, alert.severity) == (["self_harm"], "high")
    opened = audited(alert)[0]
    assert (opened.action, opened.actor_id) == ("risk_alert.opened", world.peer.pk)
    assert RiskAlertEvent.objects.get(alert=alert, kind="opened").actor_id == world.peer.pk


def test_a_flag_sends_the_person_no_crisis_reply(world: World) -> None:
    message = participant_message(world.own)
    automated = Message.objects.filter(channel="automated").count()
    alert = flag_message(message_id=message.id, by=world.peer)
    assert Message.objects.filter(channel="automated").count() == automated
    assert AlertEventKind.CRISIS_REPLY not in kinds(alert)
    assert "risk_alert.crisis_reply" not in [entry.action for entry in audited(alert)]


def test_flagging_the_same_message_twice_is_one_signal(world: World) -> None:
    message = participant_message(world.own)
    first = flag_message(message_id=message.id, by=world.peer)
    before = written()
    assert flag_message(message_id=message.id, by=world.peer).pk == first.pk
    assert written() == before


def test_a_second_staff_members_flag_on_the_same_message_joins_the_alert(world: World) -> None:
    message = participant_message(world.own)
    first = flag_message(message_id=message.id, by=world.peer)
    second = flag_message(message_id=message.id, by=world.supervisor, severity="medium")
    assert second.pk == first.pk
    assert RiskSignal.objects.filter(alert=first).count() == 2


def test_a_flag_with_a_note_adds_the_note_to_the_alert(world: World) -> None:
    message = participant_message(world.own)
    alert = flag_message(message_id=message.id, by=world.peer, note="Called, no answer.")
    note = RiskAlertNote.objects.get(alert=alert)
    assert note.author_id == world.peer.pk
    assert b"no answer" not in bytes(note.body_ciphertext)


def test_a_flag_on_a_message_the_user_may_not_read_is_not_found(world: World) -> None:
    message = participant_message(world.others)  # the other peer's caseload
    before = written()
    with pytest.raises(NotFound) as refused:
        flag_message(message_id=message.id, by=world.peer)
    assert refused.value.code == "not_found"
    assert written() == before


def test_a_flag_on_a_message_that_does_not_exist_is_not_found(world: World) -> None:
    before = written()
    with pytest.raises(NotFound) as refused:
        flag_message(message_id=uuid.uuid4(), by=world.peer)
    assert refused.value.code == "not_found"
    assert written() == before


def test_an_evaluator_may_not_flag_a_message(world: World) -> None:
    message = participant_message(world.own)
    before = written()
    with pytest.raises(NotFound):
        flag_message(message_id=message.id, by=world.evaluator)
    assert written() == before


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"category": "sadness"}, "invalid_category"),
        ({"category": ""}, "invalid_category"),
        ({"severity": "critical"}, "invalid_severity"),
        ({"note": "x" * (MAX_FLAG_NOTE_CHARS + 1)}, "invalid_note"),
        ({"note": None}, "invalid_note"),
    ],
    ids=["unknown-category", "empty-category", "unknown-severity", "oversized-note", "no-text"],
)
def test_a_flag_with_bad_input_is_refused_and_writes_nothing(
    world: World, fields: dict[str, Any], code: str
) -> None:
    message = participant_message(world.own)
    before = written()
    with pytest.raises(DomainError) as refused:
        flag_message(message_id=message.id, by=world.peer, **fields)
    assert refused.value.code == code
    assert written() == before


def test_a_flag_note_of_exactly_the_limit_is_kept(world: World) -> None:
    message = participant_message(world.own)
    alert = flag_message(message_id=message.id, by=world.peer, note="x" * MAX_FLAG_NOTE_CHARS)
    assert RiskAlertNote.objects.filter(alert=alert).count() == 1
