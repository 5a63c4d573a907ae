"""/api/v1/risk-alerts/: list and filter, flag a message, detail (audited), acknowledge,
resolve, notes (DESIGN.md §3 data flow 6, §5). Who may call what is walked by the role matrix
(tests/platform/access/matrix_risk.py); here, what each call does and refuses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from messaging.models import Conversation, Message
from messaging.risk.models import (
    AlertEventKind,
    AlertStatus,
    RiskAlert,
    RiskAlertNote,
    RiskSignal,
)
from messaging.risk.services import (
    MAX_FLAG_NOTE_CHARS,
    MAX_NOTE_CHARS,
    acknowledge_alert,
    raise_signal,
    resolve_alert,
)
from messaging.services import post_message
from people.models import User
from programmes.models import Enrolment, HandoffReason
from programmes.services import assign_peer_supporter
from tests.support.factories import World, enrol, signed_in_client

pytestmark = pytest.mark.django_db

LIST = "/api/v1/risk-alerts/"
# What the person wrote: it must never come back in any risk alert response.
RISKY_TEXT = "I want to end my life"
PERSON_NAME = "Test Person"


def _detail(alert: RiskAlert | str) -> str:
    pk = alert.pk if isinstance(alert, RiskAlert) else alert
    return f"{LIST}{pk}/"


def _post(user: User, path: str, body: dict[str, Any] | None = None) -> Any:
    return signed_in_client(user).post(path, body or {}, content_type="application/json")


def _get(user: User, path: str) -> Any:
    return signed_in_client(user).get(path)


def _says(enrolment: Enrolment, body: str, client_id: str) -> Message:
    """The person writes in their conversation (screened for crisis phrases as they do)."""
    conversation = Conversation.objects.get(enrolment=enrolment)
    return post_message(
        conversation_id=conversation.pk,
        sender=enrolment.participant.user,
        sender_role="participant",
        channel="web",
        body=body,
        client_id=client_id,
    ).message


def _risky_alert(world: World) -> RiskAlert:
    """`world.own` writes a crisis phrase: their alert opens."""
    message = _says(world.own, RISKY_TEXT, "risky")
    return RiskSignal.objects.get(message=message).alert


def _open_alert(enrolment: Enrolment, key: str) -> RiskAlert:
    """An alert opened by a risky survey answer (no message involved)."""
    return raise_signal(
        source="survey",
        source_key=f"survey:{key}",
        severity="high",
        categories=["suicide"],
        enrolment=enrolment,
        send_crisis_reply=False,
    )


def _risk_writes() -> tuple[int, int, int, int]:
    return (
        RiskAlert.objects.count(),
        RiskSignal.objects.count(),
        RiskAlertNote.objects.count(),
        AuditEntry.objects.filter(action__startswith="risk_alert.").count(),
    )


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content[:300]
    return [alert["id"] for alert in response.json()]


# Listing.


def _three_alerts(world: World) -> tuple[RiskAlert, RiskAlert, RiskAlert]:
    """Alerts about three people, opened an hour apart: open, acknowledged, resolved."""
    waiting = enrol(world.programme, by=world.admin, name="Third Person")
    start = timezone.now() - dt.timedelta(hours=3)
    opened = []
    for hours, enrolment in enumerate([world.own, world.others, waiting]):
        with time_machine.travel(start + dt.timedelta(hours=hours), tick=False):
            opened.append(_open_alert(enrolment, f"list-{hours}"))
    first, second, third = opened
    acknowledge_alert(alert_id=second.pk, by=world.supervisor)
    resolve_alert(alert_id=third.pk, by=world.supervisor, resolution="safe")
    return first, second, third


def test_the_list_shows_unresolved_alerts_newest_first_by_default(world: World) -> None:
    first, second, _ = _three_alerts(world)
    assert _ids(_get(world.supervisor, LIST)) == [str(second.pk), str(first.pk)]


def test_the_unresolved_filter_is_the_default(world: World) -> None:
    _three_alerts(world)
    default = _ids(_get(world.supervisor, LIST))
    assert _ids(_get(world.supervisor, f"{LIST}?status=unresolved")) == default


@pytest.mark.parametrize(("status", "which"), [("open", 0), ("acknowledged", 1), ("resolved", 2)])
def test_the_list_filters_by_status(world: World, status: str, which: int) -> None:
    alerts = _three_alerts(world)
    listed = _get(world.supervisor, f"{LIST}?status={status}")
    assert _ids(listed) == [str(alerts[which].pk)]
    assert listed.json()[0]["status"] == status


def test_an_unknown_status_filter_is_400(world: World) -> None:
    response = _get(world.supervisor, f"{LIST}?status=closed")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "status" in response.json()["fields"]


def test_a_peer_supporter_lists_only_alerts_about_their_caseload(world: World) -> None:
    first, second, _ = _three_alerts(world)
    assert _ids(_get(world.peer, LIST)) == [str(first.pk)]
    assert _ids(_get(world.other_peer, LIST)) == [str(second.pk)]


def test_a_programme_admin_lists_no_alerts(world: World) -> None:
    _three_alerts(world)
    assert _ids(_get(world.admin, LIST)) == []


def test_a_handed_off_person_leaves_the_previous_peers_list(world: World) -> None:
    alert = _open_alert(world.own, "handoff")
    assign_peer_supporter(
        enrolment=world.own,
        peer_supporter=world.other_peer,
        assigned_by=world.supervisor,
        reason=HandoffReason.LEAVE,
    )
    assert _ids(_get(world.peer, LIST)) == []
    assert _ids(_get(world.other_peer, LIST)) == [str(alert.pk)]


def test_a_listed_alert_names_its_conversation_and_codes(world: World) -> None:
    alert = _risky_alert(world)
    [listed] = _get(world.peer, LIST).json()
    conversation = Conversation.objects.get(enrolment=world.own)
    assert listed["id"] == str(alert.pk)
    assert listed["conversation"] == str(conversation.pk)
    assert listed["enrolment"] == str(world.own.pk)
    assert (listed["status"], listed["severity"]) == ("open", "high")
    assert listed["categories"] == ["suicide"]


# Flagging a message.


def _flag(user: User, message: Message | str, **extra: Any) -> Any:
    message_id = str(message.pk) if isinstance(message, Message) else message
    return _post(user, LIST, {"message": message_id, **extra})


def test_a_flag_opens_an_alert_about_the_person(world: World) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    response = _flag(world.peer, message, category="self_harm", severity="medium")
    assert response.status_code == 201
    flagged = response.json()
    assert (flagged["status"], flagged["severity"]) == ("open", "medium")
    assert flagged["categories"] == ["self_harm"]
    assert flagged["enrolment"] == str(world.own.pk)
    signal = RiskSignal.objects.get()
    assert (str(signal.alert_id), signal.source) == (flagged["id"], "peer_flag")
    assert (signal.message_id, signal.raised_by_id) == (message.pk, world.peer.pk)


def test_a_flag_without_category_or_severity_is_other_and_high(world: World) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    flagged = _flag(world.peer, message).json()
    assert (flagged["categories"], flagged["severity"]) == (["other"], "high")


def test_flagging_the_same_message_twice_is_one_signal(world: World) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    first = _flag(world.peer, message)
    second = _flag(world.peer, message)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert RiskSignal.objects.count() == 1
    assert RiskAlert.objects.count() == 1


def test_a_retried_flag_with_a_note_keeps_one_note(world: World) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    for _ in range(2):
        assert _flag(world.peer, message, note="Sounded low.").status_code == 201
    assert RiskAlertNote.objects.count() == 1


def test_a_supervisor_flagging_a_message_the_peer_flagged_adds_a_signal(world: World) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    by_peer = _flag(world.peer, message).json()
    by_supervisor = _flag(world.supervisor, message).json()
    assert by_peer["id"] == by_supervisor["id"]
    assert set(RiskSignal.objects.values_list("raised_by_id", flat=True)) == {
        world.peer.pk,
        world.supervisor.pk,
    }


def test_a_flag_joins_the_persons_unresolved_alert(world: World) -> None:
    alert = _risky_alert(world)
    message = _says(world.own, "Had a rough week.", "m2")
    flagged = _flag(world.peer, message, category="self_harm", severity="medium").json()
    assert flagged["id"] == str(alert.pk)
    # Categories add up; severity never goes down.
    assert (flagged["categories"], flagged["severity"]) == (["self_harm", "suicide"], "high")
    assert RiskAlert.objects.count() == 1


def test_a_flags_note_is_on_the_alert(world: World) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    flagged = _flag(world.peer, message, note="Sounded low on the phone too.").json()
    notes = _get(world.peer, _detail(flagged["id"])).json()["notes"]
    assert [note["body"] for note in notes] == ["Sounded low on the phone too."]


def test_flagging_a_message_the_caller_cannot_read_is_404(world: World) -> None:
    message = _says(world.others, "Had a rough week.", "m1")
    before = _risk_writes()
    response = _flag(world.peer, message)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert _risk_writes() == before


def test_flagging_a_message_that_does_not_exist_is_404(world: World) -> None:
    response = _flag(world.peer, str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "sadness"),
        ("severity", "extreme"),
        ("note", "x" * (MAX_FLAG_NOTE_CHARS + 1)),
        ("message", "not-a-message-id"),
    ],
)
def test_a_bad_flag_is_400_and_writes_nothing(world: World, field: str, value: str) -> None:
    message = _says(world.own, "Had a rough week.", "m1")
    before = _risk_writes()
    response = _post(world.peer, LIST, {"message": str(message.pk), field: value})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert _risk_writes() == before


# Detail.


def test_the_detail_has_signals_events_and_decrypted_notes(world: World) -> None:
    alert = _risky_alert(world)
    noted = _post(world.peer, f"{_detail(alert)}notes/", {"body": "Called; safe for now."})
    assert noted.status_code == 201
    response = _get(world.supervisor, _detail(alert))
    assert response.status_code == 200
    detail = response.json()
    [signal] = detail["signals"]
    assert (signal["source"], signal["severity"]) == ("lexicon", "high")
    assert signal["message"] == str(RiskSignal.objects.get().message_id)
    kinds = [event["kind"] for event in detail["events"]]
    assert kinds[0] == AlertEventKind.OPENED
    assert AlertEventKind.NOTIFIED in kinds and AlertEventKind.NOTE in kinds
    [note] = detail["notes"]
    assert note["body"] == "Called; safe for now."
    assert note["author"]["id"] == world.peer.pk


def test_every_read_of_the_detail_is_audited(world: World) -> None:
    alert = _risky_alert(world)
    for user in (world.peer, world.supervisor, world.supervisor):
        assert _get(user, _detail(alert)).status_code == 200
    readers = AuditEntry.objects.filter(action="risk_alert.read", target_id=str(alert.pk)).order_by(
        "id"
    )
    assert [entry.actor_id for entry in readers] == [
        world.peer.pk,
        world.supervisor.pk,
        world.supervisor.pk,
    ]


def test_a_refused_read_is_404_and_not_audited(world: World) -> None:
    alert = _risky_alert(world)
    response = _get(world.other_peer, _detail(alert))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not AuditEntry.objects.filter(action="risk_alert.read").exists()


def test_the_detail_of_an_alert_that_does_not_exist_is_404(world: World) -> None:
    assert _get(world.supervisor, _detail(str(uuid.uuid4()))).status_code == 404


def test_notes_are_stored_encrypted(world: World) -> None:
    alert = _risky_alert(world)
    _post(world.peer, f"{_detail(alert)}notes/", {"body": "Plan agreed with the person."})
    stored = bytes(RiskAlertNote.objects.get().body_ciphertext)
    assert b"Plan agreed" not in stored


# Acknowledging.


@pytest.mark.parametrize("who", ["peer", "supervisor"])
def test_the_peer_supporter_and_the_supervisor_acknowledge(world: World, who: str) -> None:
    user = getattr(world, who)
    alert = _risky_alert(world)
    response = _post(user, f"{_detail(alert)}acknowledge/")
    assert response.status_code == 200
    acknowledged = response.json()
    assert (acknowledged["status"], acknowledged["acknowledged_by"]) == ("acknowledged", user.pk)
    assert acknowledged["next_escalation_at"] is None
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_acknowledging_twice_is_a_no_op(world: World) -> None:
    alert = _risky_alert(world)
    first = _post(world.peer, f"{_detail(alert)}acknowledge/")
    second = _post(world.supervisor, f"{_detail(alert)}acknowledge/")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert alert.events.filter(kind=AlertEventKind.ACKNOWLEDGED).count() == 1
    assert AuditEntry.objects.filter(action="risk_alert.acknowledged").count() == 1


def test_acknowledging_an_alert_about_someone_else_is_404(world: World) -> None:
    alert = _open_alert(world.others, "others")
    response = _post(world.peer, f"{_detail(alert)}acknowledge/")
    assert response.status_code == 404
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


# Resolving.


def test_a_supervisor_resolves_with_a_resolution(world: World) -> None:
    alert = _risky_alert(world)
    response = _post(world.supervisor, f"{_detail(alert)}resolve/", {"resolution": "safe"})
    assert response.status_code == 200
    resolved = response.json()
    assert (resolved["status"], resolved["resolution"]) == ("resolved", "safe")
    assert resolved["resolved_at"] is not None
    assert AuditEntry.objects.filter(
        action="risk_alert.resolved", actor_id=world.supervisor.pk, target_id=str(alert.pk)
    ).exists()


def test_resolving_an_open_alert_acknowledges_it_too(world: World) -> None:
    alert = _risky_alert(world)
    resolved = _post(world.supervisor, f"{_detail(alert)}resolve/", {"resolution": "safe"}).json()
    assert resolved["acknowledged_by"] == world.supervisor.pk
    assert resolved["acknowledged_at"] is not None


def test_a_resolution_note_is_added_to_the_alert(world: World) -> None:
    alert = _risky_alert(world)
    _post(
        world.supervisor,
        f"{_detail(alert)}resolve/",
        {"resolution": "support_arranged", "note": "Crisis team visiting today."},
    )
    notes = _get(world.supervisor, _detail(alert)).json()["notes"]
    assert [note["body"] for note in notes] == ["Crisis team visiting today."]


def test_the_peer_supporter_may_not_resolve(world: World) -> None:
    alert = _risky_alert(world)
    response = _post(world.peer, f"{_detail(alert)}resolve/", {"resolution": "safe"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_resolving_twice_is_409(world: World) -> None:
    alert = _risky_alert(world)
    _post(world.supervisor, f"{_detail(alert)}resolve/", {"resolution": "safe"})
    again = _post(world.supervisor, f"{_detail(alert)}resolve/", {"resolution": "other"})
    assert again.status_code == 409
    assert again.json()["code"] == "already_resolved"
    alert.refresh_from_db()
    assert alert.resolution == "safe"


@pytest.mark.parametrize(
    "body",
    [
        {"resolution": "fixed"},
        {},
        {"resolution": "safe", "note": "x" * (MAX_NOTE_CHARS + 1)},
    ],
    ids=["unknown", "missing", "note-too-long"],
)
def test_a_bad_resolution_is_400_and_changes_nothing(world: World, body: dict[str, Any]) -> None:
    alert = _risky_alert(world)
    before = _risk_writes()
    response = _post(world.supervisor, f"{_detail(alert)}resolve/", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    assert _risk_writes() == before


def test_a_new_signal_after_resolution_opens_a_new_alert(world: World) -> None:
    alert = _risky_alert(world)
    _post(world.supervisor, f"{_detail(alert)}resolve/", {"resolution": "false_positive"})
    again = _open_alert(world.own, "after")
    assert again.pk != alert.pk
    assert _ids(_get(world.peer, LIST)) == [str(again.pk)]


# Notes.


def test_a_note_is_201(world: World) -> None:
    alert = _risky_alert(world)
    response = _post(world.peer, f"{_detail(alert)}notes/", {"body": "Left a voicemail."})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "created_at"}
    assert RiskAlertNote.objects.get().pk == uuid.UUID(created["id"])
    assert AuditEntry.objects.filter(action="risk_alert.note_added").count() == 1


@pytest.mark.parametrize(
    ("body", "code"), [("", "invalid"), ("   \n", "empty_body")], ids=["empty", "blank"]
)
def test_an_empty_note_is_400_and_writes_nothing(world: World, body: str, code: str) -> None:
    alert = _risky_alert(world)
    before = _risk_writes()
    response = _post(world.peer, f"{_detail(alert)}notes/", {"body": body})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert _risk_writes() == before


def test_an_oversized_note_is_400_and_writes_nothing(world: World) -> None:
    alert = _risky_alert(world)
    before = _risk_writes()
    response = _post(world.peer, f"{_detail(alert)}notes/", {"body": "x" * (MAX_NOTE_CHARS + 1)})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert _risk_writes() == before


# No message text, anywhere.


def test_no_risk_alert_response_carries_message_text_or_the_persons_name(world: World) -> None:
    alert = _risky_alert(world)
    risky = RiskSignal.objects.get().message
    assert risky is not None
    peer, supervisor = Client(), Client()
    peer.force_login(world.peer)
    supervisor.force_login(world.supervisor)
    json = "application/json"
    responses = [
        peer.get(LIST),
        peer.post(LIST, {"message": str(risky.pk), "category": "suicide"}, content_type=json),
        peer.get(_detail(alert)),
        peer.post(f"{_detail(alert)}acknowledge/"),
        peer.post(f"{_detail(alert)}notes/", {"body": "Talked it through."}, content_type=json),
        supervisor.get(_detail(alert)),
        supervisor.post(f"{_detail(alert)}resolve/", {"resolution": "safe"}, content_type=json),
        supervisor.get(f"{LIST}?status=resolved"),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.status_code
        content = response.content.decode()
        assert RISKY_TEXT.lower() not in content.lower()
        assert PERSON_NAME not in content
