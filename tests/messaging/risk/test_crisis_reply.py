"""The automatic reply with the programme's crisis resources (DESIGN.md §3, data flow 6): in
the person's language, through their conversation (and so by SMS when that is how they read
and they consent), by SMS when they have no open conversation, to the number of an intake
entry; at most once per `Programme.crisis_reply_interval_minutes` per person, across alerts.

Nothing here prints a message text or a phone number."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from messaging.models import Conversation, Message, OutboxPurpose, SmsIntake, SmsOutbox
from messaging.risk import texts
from messaging.risk.models import AlertEventKind, RiskAlert, RiskAlertEvent
from messaging.risk.services import raise_signal, resolve_alert
from messaging.selectors import messages_after
from messaging.services import post_message
from messaging.sms import simulate
from people.models import Channel, ConsentKind, Participant
from people.services import withdraw_consent
from programmes.models import Enrolment, EnrolmentStatus, HandoffReason, Programme, Role
from programmes.services import assign_peer_supporter, end_enrolment
from tests.support import sms
from tests.support.factories import World, enrol, fictional_phone, make_programme, make_staff
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)
RISKY = "I want to die tonight"
ALSO_RISKY = "I keep thinking I will kill myself"


def conversation_of(enrolment: Enrolment) -> Conversation:
    return Conversation.objects.get(enrolment=enrolment)


def text_in(sender: str, body: str = RISKY, *, to: str = simulate.SERVICE_NUMBER) -> str:
    """A signed inbound webhook; the MessageSid it carried."""
    sid = simulate.new_message_sid()
    response = sms.inbound(Client(), sender=sender, body=body, to=to, message_sid=sid)
    assert response.status_code == 200
    return sid


def write(enrolment: Enrolment, body: str = RISKY, *, channel: str = "sms", key: str = "") -> None:
    post_message(
        conversation_id=conversation_of(enrolment).pk,
        sender=enrolment.participant.user,
        sender_role="participant",
        channel=channel,
        body=body,
        client_id=key or f"w-{Message.objects.count()}",
    )


def crisis_messages(enrolment: Enrolment) -> list[Message]:
    return list(
        Message.objects.filter(
            conversation__enrolment=enrolment, client_id__startswith="crisis:"
        ).order_by("seq")
    )


def crisis_body(message: Message) -> str:
    [payload] = [
        m
        for m in messages_after(message.conversation, after_seq=message.seq - 1)
        if m["id"] == str(message.id)
    ]
    body: str = payload["body"]
    return body


def sent_to(fake_twilio: Any, phone: str) -> list[str]:
    return [s.body for s in fake_twilio.sent if s.to == phone]


def set_language(enrolment: Enrolment, language: str) -> None:
    Participant.objects.filter(pk=enrolment.participant_id).update(language=language)


def reads_on_the_web(enrolment: Enrolment) -> None:
    Participant.objects.filter(pk=enrolment.participant_id).update(preferred_channel=Channel.WEB)


def alert_of(enrolment: Enrolment) -> RiskAlert:
    return RiskAlert.objects.get(enrolment=enrolment, status__in=["open", "acknowledged"])


def kinds(alert: RiskAlert) -> list[str]:
    return list(RiskAlertEvent.objects.filter(alert=alert).values_list("kind", flat=True))


# --- Through the conversation ---------------------------------------------------------------


def test_a_person_who_reads_by_sms_gets_the_crisis_resources_by_sms(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        text_in(phone_of(world.own))
    assert sent_to(fake_twilio, phone_of(world.own)) == [texts.crisis_reply(world.programme, "en")]
    [outbox] = SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY)
    assert (outbox.participant_id, outbox.status) == (world.own.participant_id, "sent")
    assert outbox.message_id == crisis_messages(world.own)[0].id


def test_the_crisis_reply_carries_the_programmes_crisis_resources(world: World) -> None:
    write(world.own)
    [reply] = crisis_messages(world.own)
    assert "Call 988." in crisis_body(reply)


def test_the_crisis_reply_is_labelled_automated_in_the_thread(world: World) -> None:
    write(world.own)
    [reply] = crisis_messages(world.own)
    assert (reply.channel, reply.sender_role, reply.sender_id) == ("automated", "system", None)


def test_the_crisis_reply_follows_the_persons_message(world: World) -> None:
    write(world.own, key="risky")
    person = Message.objects.get(client_id="risky")
    [reply] = crisis_messages(world.own)
    assert reply.seq == person.seq + 1


def test_the_crisis_reply_is_in_the_persons_language(world: World) -> None:
    set_language(world.own, "fr")
    write(world.own)
    [reply] = crisis_messages(world.own)
    assert crisis_body(reply) == texts.crisis_reply(world.programme, "fr")
    assert "Appelez le 988." in crisis_body(reply)


def test_a_language_the_programme_lacks_gets_its_first_languages_resources(
    world: World,
) -> None:
    set_language(world.own, "es")
    write(world.own)
    [reply] = crisis_messages(world.own)
    assert crisis_body(reply) == f"{texts.CRISIS_REPLY['en']}\nCall 988."


def test_a_programme_without_crisis_resources_still_sends_the_emergency_fallback(
    world: World,
) -> None:
    Programme.objects.filter(pk=world.programme.pk).update(crisis_resources={})
    write(world.own)
    [reply] = crisis_messages(world.own)
    assert crisis_body(reply) == f"{texts.CRISIS_REPLY['en']}\n{texts.CRISIS_FALLBACK['en']}"


def test_a_person_on_the_web_gets_the_crisis_reply_in_the_thread_only(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    reads_on_the_web(world.own)
    with django_capture_on_commit_callbacks(execute=True):
        write(world.own, channel="web")
    assert len(crisis_messages(world.own)) == 1
    assert not SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY).exists()
    assert fake_twilio.sent == []


def test_a_person_without_sms_consent_gets_the_reply_in_the_thread_and_no_sms(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    withdraw_consent(participant=world.own.participant, kind=ConsentKind.SMS, source="staff")
    with django_capture_on_commit_callbacks(execute=True):
        write(world.own)
    [reply] = crisis_messages(world.own)
    assert SmsOutbox.objects.get(message=reply).status == "skipped"
    assert fake_twilio.sent == []


def test_a_reply_that_could_not_be_texted_is_recorded_blocked_and_not_rate_limited(
    world: World, time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    withdraw_consent(participant=world.own.participant, kind=ConsentKind.SMS, source="staff")
    write(world.own)
    alert = alert_of(world.own)
    assert AlertEventKind.CRISIS_REPLY_BLOCKED in kinds(alert)
    alert.refresh_from_db()
    assert alert.last_crisis_reply_at is None
    write(world.own, ALSO_RISKY)  # the next signal tries again
    assert len(crisis_messages(world.own)) == 2


def test_a_web_reader_who_texts_a_crisis_phrase_gets_the_crisis_reply_by_sms(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    reads_on_the_web(world.own)
    with django_capture_on_commit_callbacks(execute=True):
        text_in(phone_of(world.own))
    assert sent_to(fake_twilio, phone_of(world.own)) == [texts.crisis_reply(world.programme, "en")]


def test_an_over_long_programme_crisis_text_is_cut_to_one_sms_and_loses_nothing(
    world: World,
) -> None:
    Programme.objects.filter(pk=world.programme.pk).update(
        crisis_resources={"en": "Call 988. " * 300}
    )
    write(world.own, key="risky")
    assert Message.objects.filter(client_id="risky").exists()
    [reply] = crisis_messages(world.own)
    assert len(crisis_body(reply)) == 1600
    assert SmsOutbox.objects.get(message=reply).status == "pending"  # queued, to be sent


def test_the_crisis_reply_is_audited_and_on_the_timeline_with_how_it_went(
    world: World,
) -> None:
    write(world.own)
    alert = alert_of(world.own)
    entry = AuditEntry.objects.get(action="risk_alert.crisis_reply")
    assert (entry.target_id, entry.details) == (str(alert.pk), {"via": "thread"})
    event = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.CRISIS_REPLY)
    assert event.details == {"via": "thread"}
    alert.refresh_from_db()
    assert alert.last_crisis_reply_at == event.created_at


# --- Rate limit -----------------------------------------------------------------------------


def test_a_second_signal_within_the_interval_gets_no_second_reply(
    world: World, time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    write(world.own)
    time_machine.shift(dt.timedelta(minutes=59))
    write(world.own, ALSO_RISKY)
    assert len(crisis_messages(world.own)) == 1
    alert = alert_of(world.own)
    assert kinds(alert).count(AlertEventKind.CRISIS_REPLY) == 1
    assert kinds(alert).count(AlertEventKind.CRISIS_REPLY_HELD) == 1
    assert AuditEntry.objects.filter(action="risk_alert.crisis_reply").count() == 1


def test_a_signal_after_the_interval_gets_a_new_reply(world: World, time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    write(world.own)
    time_machine.shift(dt.timedelta(minutes=60, seconds=1))
    write(world.own, ALSO_RISKY)
    assert len(crisis_messages(world.own)) == 2
    assert kinds(alert_of(world.own)).count(AlertEventKind.CRISIS_REPLY) == 2


def test_the_rate_limit_holds_across_the_persons_alerts(world: World, time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    write(world.own)
    first = alert_of(world.own)
    resolve_alert(alert_id=first.pk, by=world.supervisor, resolution="false_positive")
    time_machine.shift(dt.timedelta(minutes=30))
    write(world.own, ALSO_RISKY)
    second = alert_of(world.own)
    assert second.pk != first.pk
    assert len(crisis_messages(world.own)) == 1
    assert AlertEventKind.CRISIS_REPLY_HELD in kinds(second)


def test_the_interval_is_the_programmes_setting(world: World, time_machine: Any) -> None:
    Programme.objects.filter(pk=world.programme.pk).update(crisis_reply_interval_minutes=5)
    time_machine.move_to(T0, tick=False)
    write(world.own)
    time_machine.shift(dt.timedelta(minutes=4))
    write(world.own, ALSO_RISKY)
    assert len(crisis_messages(world.own)) == 1
    time_machine.shift(dt.timedelta(minutes=2))
    write(world.own, "I want to end it all")
    assert len(crisis_messages(world.own)) == 2


def test_the_rate_limit_is_per_person(world: World, time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    write(world.own)
    write(world.others)
    assert len(crisis_messages(world.own)) == 1
    assert len(crisis_messages(world.others)) == 1


# --- Without an open conversation -----------------------------------------------------------


@pytest.fixture
def texts_only(world: World) -> Enrolment:
    """A person in an arm without peer support: no conversation."""
    enrolment = enrol(world.programme, peer_support=False)
    assert not Conversation.objects.filter(enrolment=enrolment).exists()
    return enrolment


def test_a_person_without_a_conversation_gets_the_crisis_template_by_sms(
    texts_only: Enrolment, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        text_in(phone_of(texts_only))
    [outbox] = SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY)
    assert (outbox.participant_id, outbox.template, outbox.message_id) == (
        texts_only.participant_id,
        "crisis",
        None,
    )
    assert sent_to(fake_twilio, phone_of(texts_only)) == [
        texts.crisis_reply(texts_only.programme, "en")
    ]
    event = RiskAlertEvent.objects.get(kind=AlertEventKind.CRISIS_REPLY)
    assert event.details == {"via": "sms"}


def test_a_person_without_a_conversation_gets_the_template_in_their_language(
    texts_only: Enrolment, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    set_language(texts_only, "fr")
    with django_capture_on_commit_callbacks(execute=True):
        text_in(phone_of(texts_only), "je veux mourir")
    assert SmsOutbox.objects.get(purpose=OutboxPurpose.CRISIS_REPLY).language == "fr"
    assert sent_to(fake_twilio, phone_of(texts_only)) == [
        texts.crisis_reply(texts_only.programme, "fr")
    ]


def test_the_crisis_reply_replaces_the_intake_reply(texts_only: Enrolment) -> None:
    text_in(phone_of(texts_only))
    purposes = list(SmsOutbox.objects.values_list("purpose", flat=True))
    assert purposes == [OutboxPurpose.CRISIS_REPLY]


def test_a_person_without_a_conversation_or_sms_consent_is_sent_nothing_and_it_is_recorded(
    texts_only: Enrolment,
) -> None:
    withdraw_consent(participant=texts_only.participant, kind=ConsentKind.SMS, source="staff")
    alert = raise_signal(
        source="survey",
        source_key="survey:web-answer",
        severity="high",
        categories=["suicide"],
        enrolment=texts_only,
    )
    assert not SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY).exists()
    assert AlertEventKind.CRISIS_REPLY_BLOCKED in kinds(alert)
    assert not AuditEntry.objects.filter(action="risk_alert.crisis_reply").exists()
    alert.refresh_from_db()
    assert alert.last_crisis_reply_at is None


def test_a_person_whose_enrolment_ended_gets_the_template_by_sms_not_the_old_thread(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    end_enrolment(enrolment=world.own, status=EnrolmentStatus.WITHDRAWN, ended_by=world.admin)
    messages = Message.objects.filter(conversation__enrolment=world.own).count()
    with django_capture_on_commit_callbacks(execute=True):
        text_in(phone_of(world.own))
    assert Message.objects.filter(conversation__enrolment=world.own).count() == messages
    assert SmsOutbox.objects.get(purpose=OutboxPurpose.CRISIS_REPLY).template == "crisis"
    assert sent_to(fake_twilio, phone_of(world.own)) == [texts.crisis_reply(world.programme, "en")]


# --- Unknown numbers (intake) ---------------------------------------------------------------


def test_an_unknown_number_gets_the_service_wide_crisis_text(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    stranger = fictional_phone()
    with django_capture_on_commit_callbacks(execute=True):
        sid = text_in(stranger)
    intake = SmsIntake.objects.get(inbound__message_sid=sid)
    [outbox] = SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY)
    assert (outbox.intake_id, outbox.participant_id, outbox.template) == (
        intake.pk,
        None,
        "crisis",
    )
    assert sent_to(fake_twilio, stranger) == [texts.crisis_reply(None, "en")]


def test_an_unknown_number_texting_a_programmes_number_gets_its_crisis_resources(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    number = fictional_phone()
    Programme.objects.filter(pk=world.programme.pk).update(sms_number=number)
    stranger = fictional_phone()
    with django_capture_on_commit_callbacks(execute=True):
        text_in(stranger, to=number)
    assert sent_to(fake_twilio, stranger) == [texts.crisis_reply(world.programme, "en")]


def test_an_unknown_number_gets_at_most_one_crisis_reply_per_interval(
    world: World, time_machine: Any
) -> None:
    time_machine.move_to(T0, tick=False)
    stranger = fictional_phone()
    text_in(stranger)
    time_machine.shift(dt.timedelta(minutes=5))
    text_in(stranger, ALSO_RISKY)
    assert SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY).count() == 1


def test_two_unknown_numbers_each_get_their_crisis_reply(world: World, time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    text_in(fictional_phone())
    text_in(fictional_phone())
    assert SmsOutbox.objects.filter(purpose=OutboxPurpose.CRISIS_REPLY).count() == 2


def test_a_crisis_reply_to_another_programmes_person_uses_their_programme(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    other = make_programme("other", crisis_resources={"en": "Dial 811."}, languages=["en"])
    peer = make_staff(other, Role.PEER_SUPPORTER)
    enrolment = enrol(other)
    assign_peer_supporter(
        enrolment=enrolment, peer_supporter=peer, assigned_by=None, reason=HandoffReason.INITIAL
    )
    with django_capture_on_commit_callbacks(execute=True):
        text_in(phone_of(enrolment))
    assert sent_to(fake_twilio, phone_of(enrolment)) == [texts.crisis_reply(other, "en")]
