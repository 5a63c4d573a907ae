"""Notes on a risk alert (DESIGN.md §5): encrypted under the person's data key (an intake
entry's own key for an unknown number), bound to their row, audited without their text, and
bad input (empty, oversized, not text, a user who may not, an alert not visible) refused with
a clear code and nothing written."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditEntry
from encryption.services import DecryptionError, decrypt
from messaging.models import Conversation, InboundSms, IntakeReason, SmsIntake
from messaging.risk.models import AlertEventKind, RiskAlert, RiskAlertEvent, RiskAlertNote
from messaging.risk.selectors import alert_detail
from messaging.risk.services import MAX_NOTE_CHARS, add_alert_note, note_ref, raise_signal
from messaging.sms import simulate
from messaging.sms.intake import record_intake
from peerlink.errors import DomainError, NotFound
from programmes.models import Enrolment
from tests.support.factories import World, fictional_phone, make_world

NOTE = "Rang them at home: xylophone-quokka plan agreed with the family"


def open_alert(enrolment: Enrolment) -> RiskAlert:
    return raise_signal(
        source="survey",
        source_key=f"survey:{uuid.uuid4().hex}",
        severity="high",
        categories=["suicide"],
        enrolment=enrolment,
    )


def stored(note: RiskAlertNote) -> bytes:
    return bytes(RiskAlertNote.objects.get(pk=note.pk).body_ciphertext)


def written() -> dict[str, int]:
    return {
        "notes": RiskAlertNote.objects.count(),
        "events": RiskAlertEvent.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


@pytest.fixture
def alert(world: World) -> RiskAlert:
    return open_alert(world.own)


# --- Encrypted ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_note_is_stored_as_ciphertext(world: World, alert: RiskAlert) -> None:
    note = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    raw = stored(note)
    for needle in (NOTE, NOTE[:24], NOTE[-24:], "xylophone-quokka"):
        assert needle.encode() not in raw
    assert len(raw) > len(NOTE)


@pytest.mark.django_db(transaction=True)
def test_a_note_appears_nowhere_in_the_raw_database(
    raw_database_bytes: Callable[[], bytes],
) -> None:
    world = make_world()
    alert = open_alert(world.own)
    note = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    if connection.vendor == "sqlite":
        connection.close()  # flush everything to the file we are about to read
    raw = raw_database_bytes()
    # The scan sees the note's row (its id), so the absence of its text means something.
    assert note.id.hex.encode() in raw or str(note.id).encode() in raw
    for needle in (NOTE, NOTE[:24], NOTE[-24:], "xylophone-quokka"):
        for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
            assert encoded not in raw, "an alert note was stored in plaintext"


@pytest.mark.django_db
def test_a_note_is_encrypted_under_the_persons_data_key(world: World, alert: RiskAlert) -> None:
    note = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    key = world.own.participant.data_key
    assert decrypt(data_key=key, ciphertext=stored(note), ref=note_ref(note.id)) == NOTE


@pytest.mark.django_db
def test_a_note_does_not_decrypt_under_the_conversations_key(
    world: World, alert: RiskAlert
) -> None:
    note = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    conversation_key = Conversation.objects.get(enrolment=world.own).data_key
    with pytest.raises(DecryptionError):
        decrypt(data_key=conversation_key, ciphertext=stored(note), ref=note_ref(note.id))


@pytest.mark.django_db
def test_a_notes_ciphertext_moved_to_another_note_does_not_decrypt(
    world: World, alert: RiskAlert
) -> None:
    first = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    second = add_alert_note(alert_id=alert.pk, by=world.supervisor, body="Second note.")
    RiskAlertNote.objects.filter(pk=second.pk).update(body_ciphertext=stored(first))
    with pytest.raises(DecryptionError):
        alert_detail(RiskAlert.objects.get(pk=alert.pk))


@pytest.mark.django_db
def test_a_note_on_an_unknown_numbers_alert_is_encrypted_under_the_intake_entrys_key(
    world: World,
) -> None:
    inbound = InboundSms.objects.create(
        message_sid=simulate.new_message_sid(), received_at=world.own.enrolled_at
    )
    intake = record_intake(
        inbound=inbound,
        reason=IntakeReason.UNKNOWN_SENDER,
        phone=fictional_phone(),
        body="I want to die tonight",
        programme=None,
    )
    alert = RiskAlert.objects.get(intake=intake)
    note = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    key = SmsIntake.objects.get(pk=intake.pk).data_key
    assert decrypt(data_key=key, ciphertext=stored(note), ref=note_ref(note.id)) == NOTE
    assert alert_detail(alert)["notes"][0]["body"] == NOTE


# --- Read back, audited, on the timeline ------------------------------------------------------


@pytest.mark.django_db
def test_the_alert_detail_shows_the_note_decrypted_with_its_author(
    world: World, alert: RiskAlert
) -> None:
    note = add_alert_note(alert_id=alert.pk, by=world.peer, body=NOTE)
    [shown] = alert_detail(RiskAlert.objects.get(pk=alert.pk))["notes"]
    assert shown["id"] == str(note.id)
    assert shown["body"] == NOTE
    assert shown["author"] == {"id": world.peer.pk, "display_name": world.peer.first_name}


@pytest.mark.django_db
def test_notes_are_shown_oldest_first(world: World, alert: RiskAlert, time_machine: Any) -> None:
    time_machine.move_to(dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC), tick=False)
    add_alert_note(alert_id=alert.pk, by=world.peer, body="First.")
    time_machine.shift(dt.timedelta(minutes=1))
    add_alert_note(alert_id=alert.pk, by=world.supervisor, body="Second.")
    notes = alert_detail(RiskAlert.objects.get(pk=alert.pk))["notes"]
    assert [n["body"] for n in notes] == ["First.", "Second."]


@pytest.mark.django_db
def test_adding_a_note_is_audited_without_its_text(world: World, alert: RiskAlert) -> None:
    add_alert_note(alert_id=alert.pk, by=world.supervisor, body=NOTE)
    [entry] = AuditEntry.objects.filter(action="risk_alert.note_added")
    assert (entry.actor_id, entry.target_id, entry.details) == (
        world.supervisor.pk,
        str(alert.pk),
        {},
    )


@pytest.mark.django_db
def test_a_note_is_on_the_timeline_by_its_id_only(world: World, alert: RiskAlert) -> None:
    note = add_alert_note(alert_id=alert.pk, by=world.peer, body=NOTE)
    event = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.NOTE)
    assert (event.actor_id, event.details) == (world.peer.pk, {"note": str(note.id)})


@pytest.mark.django_db
def test_a_note_of_exactly_the_limit_is_kept(world: World, alert: RiskAlert) -> None:
    body = "é" * MAX_NOTE_CHARS  # characters, not bytes
    note = add_alert_note(alert_id=alert.pk, by=world.supervisor, body=body)
    key = world.own.participant.data_key
    assert decrypt(data_key=key, ciphertext=stored(note), ref=note_ref(note.id)) == body


@pytest.mark.django_db
def test_a_note_keeps_its_text_exactly(world: World, alert: RiskAlert) -> None:
    body = "  Line one\n\tLine two 漢字 🙂  "
    add_alert_note(alert_id=alert.pk, by=world.supervisor, body=body)
    assert alert_detail(RiskAlert.objects.get(pk=alert.pk))["notes"][0]["body"] == body


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "empty_body"),
        ("   \n\t ", "empty_body"),
        (None, "empty_body"),
        (123, "empty_body"),
        ("x" * (MAX_NOTE_CHARS + 1), "body_too_long"),
    ],
    ids=["empty", "whitespace", "none", "not-text", "oversized"],
)
def test_a_bad_note_is_refused_and_writes_nothing(
    world: World, alert: RiskAlert, body: Any, code: str
) -> None:
    before = written()
    with pytest.raises(DomainError) as refused:
        add_alert_note(alert_id=alert.pk, by=world.supervisor, body=body)
    assert (refused.value.code, refused.value.http_status) == (code, 400)
    assert written() == before


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["other_peer", "evaluator", "admin"])
def test_a_user_who_may_not_see_the_alert_cannot_add_a_note(
    world: World, alert: RiskAlert, who: str
) -> None:
    before = written()
    with pytest.raises(NotFound) as refused:
        add_alert_note(alert_id=alert.pk, by=getattr(world, who), body=NOTE)
    assert refused.value.code == "not_found"
    assert written() == before


@pytest.mark.django_db
def test_the_person_themself_cannot_add_a_note(world: World, alert: RiskAlert) -> None:
    before = written()
    with pytest.raises(NotFound):
        add_alert_note(alert_id=alert.pk, by=world.own.participant.user, body=NOTE)
    assert written() == before


@pytest.mark.django_db
@pytest.mark.parametrize("alert_id", [uuid.uuid4(), "not-a-uuid"])
def test_a_note_on_an_alert_that_does_not_exist_is_not_found(
    world: World, alert: RiskAlert, alert_id: Any
) -> None:
    before = written()
    with pytest.raises(NotFound):
        add_alert_note(alert_id=alert_id, by=world.supervisor, body=NOTE)
    assert written() == before
