"""post_automated_messages: the scheduler's batch form of post_message. The same record
(encrypted, gap-free, labelled automated, idempotent on the client id, an outbox row for an
SMS reader) for a batch of texts; invalid input writes nothing at all."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from messaging.models import (
    Conversation,
    DeliveryStatus,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    SenderRole,
    SmsOutbox,
)
from messaging.selectors import message_payload
from messaging.services import AutomatedPost, post_automated_messages
from peerlink.errors import DomainError, NotFound
from people.models import Channel
from people.services import withdraw_consent
from programmes.models import Programme
from tests.support.factories import enrol, make_programme

pytestmark = pytest.mark.django_db


def _thread(channel: str = Channel.SMS) -> Conversation:
    programme = Programme.objects.filter(slug="trial").first() or make_programme()
    return Conversation.objects.get(enrolment=enrol(programme, channel=channel))


def _post(conversation: Conversation, body: str = "A fictional supportive text.", **kw: object):  # type: ignore[no-untyped-def]
    return AutomatedPost(
        conversation_id=conversation.pk,
        client_id=str(kw.get("client_id", uuid.uuid4().hex)),
        body=body,
        sms_expires_at=kw.get("expires_at"),  # type: ignore[arg-type]
    )


def _nothing_written() -> bool:
    return not Message.objects.exists() and not SmsOutbox.objects.exists()


def test_each_text_goes_into_its_thread_with_the_next_sequence_numbers() -> None:
    first, second = _thread(), _thread(Channel.WEB)

    messages = post_automated_messages(
        posts=[_post(first, "One."), _post(second, "Two."), _post(first, "Three.")]
    )

    assert [(m.conversation_id, m.seq) for m in messages] == [
        (first.pk, 1),
        (second.pk, 1),
        (first.pk, 2),
    ]
    bodies = [message_payload(m, m.conversation)["body"] for m in messages]
    assert bodies == ["One.", "Two.", "Three."]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.last_seq, second.last_seq) == (2, 1)
    assert first.last_message_at is not None


def test_texts_are_labelled_automated_with_no_sender() -> None:
    (message,) = post_automated_messages(posts=[_post(_thread())])

    stored = Message.objects.get(pk=message.pk)
    assert (stored.channel, stored.sender_role, stored.sender_id) == (
        MessageChannel.AUTOMATED,
        SenderRole.SYSTEM,
        None,
    )


def test_the_body_is_stored_encrypted() -> None:
    (message,) = post_automated_messages(posts=[_post(_thread(), "Fictional text to hide.")])

    assert b"Fictional text to hide." not in bytes(
        Message.objects.get(pk=message.pk).body_ciphertext
    )


def test_the_same_client_ids_again_return_the_first_messages_and_write_nothing() -> None:
    conversation = _thread()
    posts = [
        _post(conversation, client_id="scheduled:1:1"),
        _post(conversation, client_id="scheduled:1:2"),
    ]
    first = post_automated_messages(posts=posts)

    again = post_automated_messages(posts=posts)

    assert [m.pk for m in again] == [m.pk for m in first]
    assert Message.objects.count() == 2
    assert SmsOutbox.objects.count() == 2


def test_one_client_id_twice_in_a_batch_is_one_message() -> None:
    conversation = _thread()
    post = _post(conversation, client_id="scheduled:7:1")

    messages = post_automated_messages(posts=[post, post])

    assert messages[0].pk == messages[1].pk
    assert Message.objects.count() == 1


def test_an_sms_reader_gets_one_pending_sms_that_expires_and_a_web_reader_none() -> None:
    by_sms, on_web = _thread(Channel.SMS), _thread(Channel.WEB)
    expires = timezone.now() + dt.timedelta(hours=3)

    texted, _ = post_automated_messages(
        posts=[_post(by_sms, expires_at=expires), _post(on_web, expires_at=expires)]
    )

    (outbox,) = SmsOutbox.objects.all()
    assert outbox.message_id == texted.pk
    assert (outbox.purpose, outbox.status, outbox.delivery_status) == (
        OutboxPurpose.AUTOMATED,
        OutboxStatus.PENDING,
        DeliveryStatus.PENDING,
    )
    assert outbox.expires_at == expires


def test_an_sms_reader_without_consent_gets_the_text_in_the_thread_and_no_sms() -> None:
    conversation = _thread(Channel.SMS)
    withdraw_consent(participant=conversation.enrolment.participant, kind="sms", source="sms")

    (message,) = post_automated_messages(posts=[_post(conversation)])

    outbox = SmsOutbox.objects.get(message=message)
    assert (outbox.status, outbox.delivery_status) == (
        OutboxStatus.SKIPPED,
        DeliveryStatus.NOT_SENT,
    )


def test_an_empty_body_anywhere_in_the_batch_is_refused_and_nothing_is_written() -> None:
    conversation = _thread()

    with pytest.raises(DomainError) as refused:
        post_automated_messages(posts=[_post(conversation), _post(conversation, "   ")])

    assert refused.value.code == "empty_body"
    assert _nothing_written()


def test_a_text_too_long_for_an_sms_reader_is_refused_and_nothing_is_written() -> None:
    by_sms, on_web = _thread(Channel.SMS), _thread(Channel.WEB)

    with pytest.raises(DomainError) as refused:
        post_automated_messages(posts=[_post(on_web, "x" * 1601), _post(by_sms, "x" * 1601)])

    assert refused.value.code == "too_long_for_sms"
    assert _nothing_written()


def test_an_unknown_conversation_is_not_found_and_nothing_is_written() -> None:
    conversation = _thread()
    missing = AutomatedPost(conversation_id=uuid.uuid4(), client_id="c", body="Hello.")

    with pytest.raises(NotFound):
        post_automated_messages(posts=[_post(conversation), missing])

    assert _nothing_written()


def test_no_posts_write_nothing() -> None:
    assert post_automated_messages(posts=[]) == []
    assert _nothing_written()
