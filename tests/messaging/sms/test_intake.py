"""Texts no conversation can take (intake): from numbers that match nobody, and from people
without an open conversation (an arm without peer support, an ended enrolment). Kept
encrypted for supervisors, answered at most once per interval; and the intake API
(GET /api/v1/sms-intake/, POST /api/v1/sms-intake/<id>/resolve/)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from encryption.services import decrypt
from messaging.models import (
    Conversation,
    InboundSms,
    IntakeReason,
    Message,
    OutboxPurpose,
    SmsIntake,
    SmsOutbox,
)
from messaging.selectors import messages_after
from messaging.sms import simulate
from messaging.sms.intake import intake_field_ref
from people.models import ConsentRecord
from people.selectors import mask_phone
from programmes.models import EnrolmentStatus, Programme, Role
from programmes.services import end_enrolment
from tests.support import sms
from tests.support.factories import (
    World,
    enrol,
    fictional_phone,
    make_programme,
    make_staff,
    signed_in_client,
)
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

INTAKE_URL = "/api/v1/sms-intake/"


def text(client: Client, sender: str, body: str, *, to: str = simulate.SERVICE_NUMBER) -> str:
    sid = simulate.new_message_sid()
    response = sms.inbound(client, sender=sender, body=body, to=to, message_sid=sid)
    assert response.status_code == 200, response.content[:200]
    return sid


def intake_of(sid: str) -> SmsIntake:
    return SmsIntake.objects.select_related("data_key").get(inbound__message_sid=sid)


def plain(entry: SmsIntake, field: str) -> str:
    return decrypt(
        data_key=entry.data_key,
        ciphertext=getattr(entry, f"{field}_ciphertext"),
        ref=intake_field_ref(entry.pk, field),
    )


def with_number(programme: Programme) -> Programme:
    """Give the programme its own SMS number (fictional)."""
    Programme.objects.filter(pk=programme.pk).update(sms_number=fictional_phone())
    programme.refresh_from_db()
    return programme


def resolve_url(entry_id: Any) -> str:
    return f"/api/v1/sms-intake/{entry_id}/resolve/"


# --- Unknown numbers --------------------------------------------------------------------


def test_a_text_from_an_unknown_number_is_kept_for_intake(twilio: Client, world: World) -> None:
    stranger = fictional_phone()
    sid = text(twilio, stranger, "Is this the peer support line?")
    entry = intake_of(sid)
    assert (entry.reason, entry.programme_id, entry.participant_id) == (
        IntakeReason.UNKNOWN_SENDER,
        None,
        None,
    )
    assert plain(entry, "phone") == stranger
    assert plain(entry, "body") == "Is this the peer support line?"
    inbound = InboundSms.objects.get(message_sid=sid)
    assert (inbound.outcome, inbound.participant_id, inbound.message_id) == (
        "unknown_sender",
        None,
        None,
    )


def test_intake_keeps_the_number_and_the_text_encrypted(twilio: Client, world: World) -> None:
    stranger = fictional_phone()
    sid = text(twilio, stranger, "a sentence nobody else should read")
    entry = intake_of(sid)
    phone_raw, body_raw = bytes(entry.phone_ciphertext), bytes(entry.body_ciphertext)
    assert stranger.encode() not in phone_raw
    assert stranger[2:].encode() not in phone_raw
    assert b"nobody else" not in body_raw
    assert stranger not in entry.phone_index


def test_a_text_from_an_unknown_number_opens_no_conversation(twilio: Client, world: World) -> None:
    conversations, messages = Conversation.objects.count(), Message.objects.count()
    text(twilio, fictional_phone(), "hello?")
    assert (Conversation.objects.count(), Message.objects.count()) == (conversations, messages)


def test_an_unknown_number_gets_the_polite_reply(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_UNKNOWN_SENDER_REPLY = "Thanks; we could not match this number."
    stranger = fictional_phone()
    with on_commit():
        text(twilio, stranger, "hello?")
    assert fake_twilio.bodies_to(stranger) == ["Thanks; we could not match this number."]


def test_an_unknown_number_texting_a_programmes_number_is_routed_and_told_its_crisis_text(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_UNKNOWN_SENDER_REPLY = "Thanks; we could not match this number."
    programme = with_number(world.programme)
    stranger = fictional_phone()
    with on_commit():
        sid = text(twilio, stranger, "hello?", to=programme.sms_number)
    assert intake_of(sid).programme_id == programme.pk
    assert fake_twilio.bodies_to(stranger) == ["Thanks; we could not match this number.\nCall 988."]


def test_an_unknown_number_gets_at_most_one_reply_per_interval(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    stranger = fictional_phone()
    with on_commit():
        text(twilio, stranger, "hello?")
        text(twilio, stranger, "anyone there?")
    assert SmsIntake.objects.count() == 2
    assert len(fake_twilio.bodies_to(stranger)) == 1


def test_an_unknown_number_is_answered_again_once_the_interval_has_passed(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_INTAKE_REPLY_INTERVAL_SECONDS = 3600
    stranger = fictional_phone()
    with on_commit():
        text(twilio, stranger, "hello?")
    SmsOutbox.objects.filter(purpose=OutboxPurpose.INTAKE_REPLY).update(
        created_at=timezone.now() - dt.timedelta(seconds=3601)
    )
    with on_commit():
        text(twilio, stranger, "hello again?")
    assert len(fake_twilio.bodies_to(stranger)) == 2


def test_one_unknown_numbers_reply_does_not_silence_another(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    first, second = fictional_phone(), fictional_phone()
    with on_commit():
        text(twilio, first, "hello?")
        text(twilio, second, "hello?")
    assert (len(fake_twilio.bodies_to(first)), len(fake_twilio.bodies_to(second))) == (1, 1)


def test_no_reply_to_unknown_numbers_when_the_reply_is_turned_off(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_UNKNOWN_SENDER_REPLY = ""
    with on_commit():
        sid = text(twilio, fictional_phone(), "hello?")
    assert intake_of(sid).reason == IntakeReason.UNKNOWN_SENDER
    assert fake_twilio.sent == []
    assert not SmsOutbox.objects.exists()


@pytest.mark.parametrize("word", ["STOP", " start ", "Unsubscribe", "yes"])
def test_stop_or_start_from_an_unknown_number_is_ignored(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, word: str
) -> None:
    consents = ConsentRecord.objects.count()
    with on_commit():
        sid = text(twilio, fictional_phone(), word)
    inbound = InboundSms.objects.get(message_sid=sid)
    assert (inbound.outcome, inbound.participant_id) == ("ignored", None)
    assert not SmsIntake.objects.exists()
    assert not SmsOutbox.objects.exists()
    assert ConsentRecord.objects.count() == consents
    assert fake_twilio.sent == []


def test_help_from_an_unknown_number_is_kept_and_answered(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    stranger = fictional_phone()
    with on_commit():
        sid = text(twilio, stranger, "HELP")
    assert intake_of(sid).reason == IntakeReason.UNKNOWN_SENDER
    assert plain(intake_of(sid), "body") == "HELP"
    assert len(fake_twilio.bodies_to(stranger)) == 1


def test_help_from_an_unknown_number_is_answered_with_crisis_guidance(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    # DESIGN.md §4: HELP -> contact and crisis resources. A person who changed phones (or
    # was given the number on discharge) and texts HELP must learn where to get help now,
    # not only that their number is unknown.
    settings.SMS_HELP_FALLBACK = "If you are in danger, call your local emergency number now."
    stranger = fictional_phone()
    with on_commit():
        text(twilio, stranger, "HELP")
    [reply] = fake_twilio.bodies_to(stranger)
    assert settings.SMS_HELP_FALLBACK in reply


def test_help_from_an_unknown_number_is_answered_when_unknown_sender_replies_are_off(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    # Turning off the polite reply to stray texts must not silence the answer to HELP: the
    # README tells operators to turn Twilio's own HELP answer off, since peerlink answers it.
    settings.SMS_UNKNOWN_SENDER_REPLY = ""
    stranger = fictional_phone()
    with on_commit():
        text(twilio, stranger, "HELP")
    assert len(fake_twilio.bodies_to(stranger)) == 1


def test_help_from_an_unknown_number_is_answered_after_an_earlier_text_that_day(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    stranger = fictional_phone()
    with on_commit():
        text(twilio, stranger, "hello?")
    with on_commit():
        text(twilio, stranger, "HELP")
    assert len(fake_twilio.bodies_to(stranger)) == 2


# --- People without an open conversation ------------------------------------------------


def test_a_person_whose_arm_has_no_peer_support_is_kept_for_intake(twilio: Client) -> None:
    programme = make_programme()
    enrolment = enrol(programme, peer_support=False)
    sid = text(twilio, phone_of(enrolment), "Can I talk to someone?")
    entry = intake_of(sid)
    assert (entry.reason, entry.participant_id, entry.programme_id) == (
        IntakeReason.NO_CONVERSATION,
        enrolment.participant.pk,
        programme.pk,
    )
    assert plain(entry, "body") == "Can I talk to someone?"
    assert plain(entry, "phone") == phone_of(enrolment)
    inbound = InboundSms.objects.get(message_sid=sid)
    assert (inbound.outcome, inbound.participant_id) == (
        "no_conversation",
        enrolment.participant.pk,
    )
    assert not Message.objects.exists()
    assert not Conversation.objects.filter(enrolment=enrolment).exists()


def test_a_person_without_peer_support_gets_the_no_conversation_reply(
    twilio: Client, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_NO_CONVERSATION_REPLY = "Nobody reads texts to this number."
    programme = make_programme(contact_text={"en": "Office: 555-0100."})
    enrolment = enrol(programme, peer_support=False)
    with on_commit():
        text(twilio, phone_of(enrolment), "hello?")
    assert fake_twilio.bodies_to(phone_of(enrolment)) == [
        "Nobody reads texts to this number.\nOffice: 555-0100.\nCall 988."
    ]


def test_a_person_without_peer_support_or_sms_consent_gets_no_reply(
    twilio: Client, fake_twilio: Any, on_commit: Any
) -> None:
    programme = make_programme()
    enrolment = enrol(programme, peer_support=False, sms_consent=False)
    with on_commit():
        sid = text(twilio, phone_of(enrolment), "hello?")
    assert intake_of(sid).reason == IntakeReason.NO_CONVERSATION
    assert fake_twilio.sent == []


def test_a_person_without_peer_support_gets_at_most_one_reply_per_interval(
    twilio: Client, fake_twilio: Any, on_commit: Any
) -> None:
    programme = make_programme()
    enrolment = enrol(programme, peer_support=False)
    with on_commit():
        text(twilio, phone_of(enrolment), "hello?")
        text(twilio, phone_of(enrolment), "still there?")
    assert SmsIntake.objects.count() == 2
    assert len(fake_twilio.bodies_to(phone_of(enrolment))) == 1


def test_a_person_whose_enrolment_ended_is_kept_for_intake(twilio: Client, world: World) -> None:
    end_enrolment(enrolment=world.own, status=EnrolmentStatus.COMPLETED, ended_by=world.admin)
    sid = text(twilio, phone_of(world.own), "I miss our chats")
    entry = intake_of(sid)
    assert (entry.reason, entry.participant_id, entry.programme_id) == (
        IntakeReason.NO_CONVERSATION,
        world.own.participant.pk,
        world.programme.pk,
    )
    assert messages_after(Conversation.objects.get(enrolment=world.own), after_seq=0) == []


def test_a_person_whose_enrolment_ended_gets_the_no_conversation_reply(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any, settings: Any
) -> None:
    settings.SMS_NO_CONVERSATION_REPLY = "Nobody reads texts to this number."
    end_enrolment(enrolment=world.own, status=EnrolmentStatus.WITHDRAWN, ended_by=world.admin)
    with on_commit():
        text(twilio, phone_of(world.own), "hello?")
    assert fake_twilio.bodies_to(phone_of(world.own)) == [
        "Nobody reads texts to this number.\nCall 988."
    ]


def test_a_person_whose_enrolment_ended_and_who_opted_out_gets_no_reply(
    twilio: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    end_enrolment(enrolment=world.own, status=EnrolmentStatus.COMPLETED, ended_by=world.admin)
    with on_commit():
        text(twilio, phone_of(world.own), "STOP")
        sid = text(twilio, phone_of(world.own), "one more thing")
    assert intake_of(sid).reason == IntakeReason.NO_CONVERSATION
    assert fake_twilio.sent == []


# --- The intake API ---------------------------------------------------------------------


def listing(user: Any, **params: str) -> list[dict[str, Any]]:
    response = signed_in_client(user).get(INTAKE_URL, params)
    assert response.status_code == 200, response.content[:200]
    rows: list[dict[str, Any]] = response.json()
    return rows


@pytest.fixture
def other_programme(world: World) -> Programme:
    """A second programme with its own number and supervisor (not in `world`)."""
    return with_number(make_programme("other"))


def test_supervisors_see_open_entries_with_masked_numbers(twilio: Client, world: World) -> None:
    stranger = fictional_phone()
    sid = text(twilio, stranger, "Who is this?")
    [row] = listing(world.supervisor)
    assert row["id"] == str(intake_of(sid).pk)
    assert (row["reason"], row["programme"], row["participant"], row["body"]) == (
        "unknown_sender",
        None,
        None,
        "Who is this?",
    )
    assert row["phone"] == mask_phone(stranger)
    assert row["phone"] != stranger
    assert stranger[3:-2] not in row["phone"]
    assert (row["resolved_at"], row["resolved_by"]) == (None, None)


def test_programme_admins_see_full_numbers(twilio: Client, world: World) -> None:
    stranger = fictional_phone()
    text(twilio, stranger, "Who is this?")
    [row] = listing(world.admin)
    assert row["phone"] == stranger


def test_an_admin_of_one_programme_sees_masked_numbers_where_they_only_supervise(
    twilio: Client, world: World, other_programme: Programme
) -> None:
    # README: phone "masked for supervisors, whole for admins". The role is per programme:
    # being an admin of `other` does not make this user an admin of `trial`.
    from programmes.services import grant_role

    grant_role(user=world.supervisor, programme=other_programme, role=Role.ADMIN)
    stranger = fictional_phone()
    trial = with_number(world.programme)
    text(twilio, stranger, "to the trial", to=trial.sms_number)
    [row] = listing(world.supervisor)
    assert row["programme"] == "trial"
    assert row["phone"] == mask_phone(stranger)


def test_entries_are_listed_newest_first(twilio: Client, world: World) -> None:
    first = text(twilio, fictional_phone(), "first")
    second = text(twilio, fictional_phone(), "second")
    SmsIntake.objects.filter(inbound__message_sid=first).update(
        received_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert [row["body"] for row in listing(world.supervisor)] == ["second", "first"]
    assert intake_of(second).received_at > intake_of(first).received_at


def test_entries_routed_to_another_programme_are_hidden(
    twilio: Client, world: World, other_programme: Programme
) -> None:
    text(twilio, fictional_phone(), "for the other programme", to=other_programme.sms_number)
    assert listing(world.supervisor) == []
    assert listing(world.admin) == []


def test_entries_routed_to_a_programme_are_shown_to_its_staff(
    twilio: Client, world: World, other_programme: Programme
) -> None:
    other_supervisor = make_staff(other_programme, Role.SUPERVISOR)
    text(twilio, fictional_phone(), "for the other programme", to=other_programme.sms_number)
    [row] = listing(other_supervisor)
    assert (row["programme"], row["body"]) == ("other", "for the other programme")


def test_unrouted_entries_are_shown_to_every_supervisor_and_admin(
    twilio: Client, world: World, other_programme: Programme
) -> None:
    other_supervisor = make_staff(other_programme, Role.SUPERVISOR)
    other_admin = make_staff(other_programme, Role.ADMIN)
    text(twilio, fictional_phone(), "to the shared number")
    for user in (world.supervisor, world.admin, other_supervisor, other_admin):
        assert [row["body"] for row in listing(user)] == ["to the shared number"]


def test_a_no_conversation_entry_names_the_participant_and_programme(
    twilio: Client, world: World
) -> None:
    end_enrolment(enrolment=world.own, status=EnrolmentStatus.COMPLETED, ended_by=world.admin)
    text(twilio, phone_of(world.own), "I miss our chats")
    [row] = listing(world.supervisor)
    assert (row["reason"], row["participant"], row["programme"]) == (
        "no_conversation",
        str(world.own.participant.pk),
        "trial",
    )


@pytest.mark.parametrize("who", ["peer", "other_peer", "evaluator", "service_user"])
def test_the_intake_list_is_forbidden_to_other_roles(
    twilio: Client, world: World, who: str
) -> None:
    text(twilio, fictional_phone(), "hello?")
    user = world.own.participant.user if who == "service_user" else getattr(world, who)
    audits = AuditEntry.objects.count()
    response = signed_in_client(user).get(INTAKE_URL)
    assert response.status_code == 403
    assert "body" not in response.content.decode()
    assert AuditEntry.objects.count() == audits


def test_the_intake_list_is_refused_without_signing_in(twilio: Client, world: World) -> None:
    text(twilio, fictional_phone(), "hello?")
    response = Client().get(INTAKE_URL)
    assert response.status_code in (401, 403)
    assert b"hello?" not in response.content


def test_every_listing_is_audited(twilio: Client, world: World) -> None:
    text(twilio, fictional_phone(), "one")
    text(twilio, fictional_phone(), "two")
    listing(world.supervisor)
    listing(world.admin)
    entries = AuditEntry.objects.filter(action="sms_intake.listed").order_by("id")
    assert [(e.actor_id, e.details) for e in entries] == [
        (world.supervisor.pk, {"count": 2}),
        (world.admin.pk, {"count": 2}),
    ]


@pytest.mark.parametrize(("flag", "shown"), [("1", 2), ("true", 2), ("0", 1), ("", 1)])
def test_resolved_entries_are_listed_only_with_all(
    twilio: Client, world: World, flag: str, shown: int
) -> None:
    done = intake_of(text(twilio, fictional_phone(), "dealt with"))
    text(twilio, fictional_phone(), "still open")
    assert signed_in_client(world.supervisor).post(resolve_url(done.pk)).status_code == 200
    bodies = sorted(row["body"] for row in listing(world.supervisor, all=flag))
    assert bodies == ["dealt with", "still open"][-shown:]


def test_resolving_sets_who_and_when(twilio: Client, world: World) -> None:
    entry = intake_of(text(twilio, fictional_phone(), "hello?"))
    response = signed_in_client(world.supervisor).post(resolve_url(entry.pk))
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.resolved_at is not None
    assert entry.resolved_by_id == world.supervisor.pk
    body = response.json()
    assert (body["id"], body["resolved_at"], body["resolved_by"]) == (
        str(entry.pk),
        entry.resolved_at.isoformat(),
        world.supervisor.pk,
    )


def test_resolving_twice_keeps_the_first_resolution(twilio: Client, world: World) -> None:
    entry = intake_of(text(twilio, fictional_phone(), "hello?"))
    signed_in_client(world.supervisor).post(resolve_url(entry.pk))
    entry.refresh_from_db()
    first = (entry.resolved_at, entry.resolved_by_id)
    response = signed_in_client(world.admin).post(resolve_url(entry.pk))
    assert response.status_code == 200
    entry.refresh_from_db()
    assert (entry.resolved_at, entry.resolved_by_id) == first
    assert response.json()["resolved_by"] == world.supervisor.pk


def test_resolving_is_audited_once(twilio: Client, world: World) -> None:
    entry = intake_of(text(twilio, fictional_phone(), "hello?"))
    signed_in_client(world.supervisor).post(resolve_url(entry.pk))
    signed_in_client(world.supervisor).post(resolve_url(entry.pk))
    [audit] = AuditEntry.objects.filter(action="sms_intake.resolved")
    assert (audit.actor_id, audit.target_type, audit.target_id) == (
        world.supervisor.pk,
        "messaging.smsintake",
        str(entry.pk),
    )


def test_resolving_an_entry_of_another_programme_is_not_found(
    twilio: Client, world: World, other_programme: Programme
) -> None:
    entry = intake_of(text(twilio, fictional_phone(), "hello?", to=other_programme.sms_number))
    audits = AuditEntry.objects.count()
    response = signed_in_client(world.supervisor).post(resolve_url(entry.pk))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    entry.refresh_from_db()
    assert (entry.resolved_at, entry.resolved_by_id) == (None, None)
    assert AuditEntry.objects.count() == audits


def test_resolving_an_entry_that_does_not_exist_is_not_found(world: World) -> None:
    response = signed_in_client(world.supervisor).post(resolve_url(uuid.uuid4()))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("who", ["peer", "evaluator", "service_user"])
def test_resolving_is_forbidden_to_other_roles(twilio: Client, world: World, who: str) -> None:
    entry = intake_of(text(twilio, fictional_phone(), "hello?"))
    user = world.own.participant.user if who == "service_user" else getattr(world, who)
    response = signed_in_client(user).post(resolve_url(entry.pk))
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.resolved_at is None


def test_an_erased_entry_shows_no_number_or_text_and_leaves_the_list_working(
    twilio: Client, world: World
) -> None:
    from encryption.services import shred_data_key

    erased = intake_of(text(twilio, fictional_phone(), "erase me"))
    text(twilio, fictional_phone(), "still here")
    shred_data_key(data_key=erased.data_key)
    response = signed_in_client(world.supervisor).get(INTAKE_URL)
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert (rows[str(erased.pk)]["body"], rows[str(erased.pk)]["phone"]) == (None, None)
    assert rows[str(erased.pk)]["erased"] is True
    assert [row["body"] for row in rows.values() if not row["erased"]] == ["still here"]
