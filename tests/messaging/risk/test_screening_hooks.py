"""Where crisis screening hooks in (DESIGN.md §3, data flows 1, 2 and 6): a person's message in
their conversation (web or SMS) is screened inside the message's own transaction, so that
the alert exists if and only if the message does; a text no conversation takes (intake) is
screened too; ordinary messages, staff messages and redelivered webhooks open nothing.

Nothing here prints a message text or a phone number."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from messaging.actions import participant_message
from messaging.models import (
    Conversation,
    InboundSms,
    Message,
    OutboxPurpose,
    SmsIntake,
    SmsOutbox,
)
from messaging.risk import services as risk_services
from messaging.risk.models import RiskAlert, RiskSignal
from messaging.services import post_message
from messaging.sms import simulate
from people.models import Participant
from programmes.models import Enrolment, Programme
from tests.support import sms
from tests.support.factories import World, enrol, fictional_phone
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

RISKY = "I want to die tonight"
ORDINARY = "Had a good walk today, thanks for asking."


def conversation_of(enrolment: Enrolment) -> Conversation:
    return Conversation.objects.get(enrolment=enrolment)


def write(
    enrolment: Enrolment, body: str = RISKY, *, channel: str = "web", client_id: str = "c1"
) -> Message:
    return post_message(
        conversation_id=conversation_of(enrolment).pk,
        sender=enrolment.participant.user,
        sender_role="participant",
        channel=channel,
        body=body,
        client_id=client_id,
    ).message


def text_in(
    sender: str, body: str = RISKY, *, sid: str | None = None, client: Client | None = None
) -> tuple[str, int]:
    sid = sid or simulate.new_message_sid()
    response = sms.inbound(client or Client(), sender=sender, body=body, message_sid=sid)
    return sid, response.status_code


def boom(**kwargs: Any) -> None:
    raise RuntimeError("simulated failure later in the message's transaction")


# --- A person's message in their conversation -----------------------------------------------


def test_a_risky_web_message_opens_an_alert_linked_to_it(world: World) -> None:
    message = write(world.own, channel="web")
    alert = RiskAlert.objects.get(enrolment=world.own)
    signal = RiskSignal.objects.get(alert=alert)
    assert (signal.source, signal.source_key, signal.message_id) == (
        "lexicon",
        f"message:{message.id}",
        message.id,
    )
    assert signal.matched_entries, "the signal names the lexicon entries that matched"
    assert (alert.severity, alert.categories) == ("high", ["suicide"])


def test_a_risky_inbound_sms_opens_an_alert_linked_to_its_message(world: World) -> None:
    sid, status = text_in(phone_of(world.own))
    assert status == 200
    inbound = InboundSms.objects.get(message_sid=sid)
    signal = RiskSignal.objects.get()
    assert signal.message_id == inbound.message_id
    assert signal.alert.enrolment_id == world.own.pk


def test_a_risky_message_in_french_is_screened_with_the_french_lexicon(world: World) -> None:
    Participant.objects.filter(pk=world.own.participant_id).update(language="fr")
    write(world.own, "je veux mourir ce soir")
    assert RiskAlert.objects.filter(enrolment=world.own).exists()


def test_a_failure_later_in_the_messages_transaction_leaves_no_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(participant_message, "cover_if_off_duty", boom)
    with pytest.raises(RuntimeError):
        write(world.own)
    assert not Message.objects.filter(client_id="c1").exists()
    assert RiskAlert.objects.count() == 0
    assert RiskSignal.objects.count() == 0


def test_an_alert_that_cannot_be_stored_leaves_no_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(risk_services, "raise_signal", boom)
    with pytest.raises(RuntimeError):
        write(world.own)
    assert not Message.objects.filter(client_id="c1").exists()
    assert Message.objects.filter(conversation__enrolment=world.own).count() == 0


def test_a_failed_inbound_webhook_leaves_neither_message_nor_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(participant_message, "cover_if_off_duty", boom)
    sid, status = text_in(phone_of(world.own), client=Client(raise_request_exception=False))
    assert status == 500
    assert not InboundSms.objects.filter(message_sid=sid).exists()
    assert Message.objects.filter(conversation__enrolment=world.own).count() == 0
    assert RiskAlert.objects.count() == 0


def test_twilios_retry_of_a_failed_webhook_opens_the_alert_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(participant_message, "cover_if_off_duty", boom)
        sid, status = text_in(phone_of(world.own), client=Client(raise_request_exception=False))
        assert status == 500
    _, status = text_in(phone_of(world.own), sid=sid)
    assert status == 200
    assert RiskSignal.objects.count() == 1
    assert RiskSignal.objects.get().message_id == InboundSms.objects.get(message_sid=sid).message_id


def test_an_ordinary_web_message_opens_no_alert(world: World) -> None:
    write(world.own, ORDINARY, channel="web")
    assert RiskAlert.objects.count() == 0
    assert RiskSignal.objects.count() == 0


def test_an_ordinary_inbound_sms_opens_no_alert(world: World) -> None:
    _, status = text_in(phone_of(world.own), ORDINARY)
    assert status == 200
    assert RiskAlert.objects.count() == 0


def test_a_negated_phrase_opens_no_alert(world: World) -> None:
    write(world.own, "I'm not going to kill myself, I promise")
    assert RiskAlert.objects.count() == 0


def test_a_peer_supporters_message_is_not_screened(world: World) -> None:
    post_message(
        conversation_id=conversation_of(world.own).pk,
        sender=world.peer,
        sender_role="peer_supporter",
        channel="web",
        body="Have you had thoughts that you want to die?",
        client_id="peer-1",
    )
    assert RiskAlert.objects.count() == 0


def test_the_same_web_message_sent_twice_is_one_signal(world: World) -> None:
    write(world.own, client_id="same")
    write(world.own, client_id="same")
    assert RiskSignal.objects.count() == 1
    assert Message.objects.filter(client_id__startswith="crisis:").count() == 1


def test_a_duplicate_inbound_webhook_opens_no_second_signal(world: World) -> None:
    sid, _ = text_in(phone_of(world.own))
    _, status = text_in(phone_of(world.own), sid=sid)
    assert status == 200
    assert RiskSignal.objects.count() == 1
    assert RiskAlert.objects.count() == 1
    assert SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY).count() == 1


# --- Texts no conversation takes (intake) ---------------------------------------------------


def test_an_intake_text_from_an_unknown_number_opens_an_alert_about_the_entry(
    world: World,
) -> None:
    sid, status = text_in(fictional_phone())
    assert status == 200
    intake = SmsIntake.objects.get(inbound__message_sid=sid)
    alert = RiskAlert.objects.get()
    assert (alert.intake_id, alert.enrolment_id, alert.programme_id) == (intake.pk, None, None)
    signal = RiskSignal.objects.get(alert=alert)
    assert (signal.source, signal.source_key, signal.message_id) == (
        "lexicon",
        f"intake:{intake.pk}",
        None,
    )


def test_further_risky_texts_from_the_same_unknown_number_join_its_alert(world: World) -> None:
    number = fictional_phone()
    text_in(number)
    text_in(number, "still want to die")
    other_sid, _ = text_in(fictional_phone())
    first, second = RiskAlert.objects.order_by("opened_at")
    assert RiskSignal.objects.filter(alert=first).count() == 2
    assert second.intake_id == SmsIntake.objects.get(inbound__message_sid=other_sid).pk


def test_an_intake_text_to_a_programmes_number_opens_the_alert_in_that_programme(
    world: World,
) -> None:
    number = fictional_phone()
    Programme.objects.filter(pk=world.programme.pk).update(sms_number=number)
    sid = simulate.new_message_sid()
    sms.inbound(Client(), sender=fictional_phone(), body=RISKY, to=number, message_sid=sid)
    assert RiskAlert.objects.get().programme_id == world.programme.pk


def test_an_intake_text_from_a_person_without_a_conversation_opens_an_alert_about_them(
    world: World,
) -> None:
    texts_only = enrol(world.programme, peer_support=False)
    sid, status = text_in(phone_of(texts_only))
    assert status == 200
    intake = SmsIntake.objects.get(inbound__message_sid=sid)
    alert = RiskAlert.objects.get()
    assert (alert.enrolment_id, alert.intake_id, alert.programme_id) == (
        texts_only.pk,
        None,
        world.programme.pk,
    )
    assert RiskSignal.objects.get().source_key == f"intake:{intake.pk}"


def test_an_ordinary_intake_text_opens_no_alert(world: World) -> None:
    text_in(fictional_phone(), "Is this the peer support line?")
    text_in(phone_of(enrol(world.programme, peer_support=False)), ORDINARY)
    assert SmsIntake.objects.count() == 2
    assert RiskAlert.objects.count() == 0


def test_a_duplicate_intake_webhook_opens_no_second_signal(world: World) -> None:
    stranger = fictional_phone()
    sid, _ = text_in(stranger)
    _, status = text_in(stranger, sid=sid)
    assert status == 200
    assert SmsIntake.objects.count() == 1
    assert RiskSignal.objects.count() == 1


def test_a_failed_intake_webhook_leaves_neither_entry_nor_alert(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(risk_services, "_send_crisis_resources", boom)
    sid, status = text_in(fictional_phone(), client=Client(raise_request_exception=False))
    assert status == 500
    assert not SmsIntake.objects.exists()
    assert not InboundSms.objects.filter(message_sid=sid).exists()
    assert RiskAlert.objects.count() == 0


# --- Texts another part of the service takes, and keywords -----------------------------------


def _take_every_text(**kwargs: Any) -> bool:
    return True


def test_a_text_taken_by_a_survey_session_is_still_screened(world: World) -> None:
    from messaging.sms.inbound import register_inbound_handler, unregister_inbound_handler

    register_inbound_handler(_take_every_text)
    try:
        sid, status = text_in(phone_of(world.own))
    finally:
        unregister_inbound_handler(_take_every_text)
    assert status == 200
    signal = RiskSignal.objects.get()
    assert (signal.source_key, signal.alert.enrolment_id) == (f"inbound:{sid}", world.own.pk)


def test_a_keyword_text_gets_no_away_reply_and_is_not_screened(world: World) -> None:
    from staffing.services import set_working_hours

    set_working_hours(
        user=world.peer, working_hours={}, time_zone="UTC", changed_by=None
    )  # off duty all week
    text_in(phone_of(world.own), "HELP")
    assert not Message.objects.filter(client_id__startswith="away:").exists()
    assert not RiskAlert.objects.exists()
