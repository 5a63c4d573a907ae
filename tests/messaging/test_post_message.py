"""post_message: the one way into a conversation. Exactly once, gap-free, encrypted."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from messaging.models import Conversation, Message, OutboxStatus, SmsOutbox
from messaging.services import open_conversation, post_message
from peerlink.errors import DomainError, NotFound
from people.models import Channel, Participant
from programmes.models import Role
from tests.support.factories import World, enrol, make_programme, make_staff
from tests.support.fake_twilio import FAKE_TWILIO

pytestmark = pytest.mark.django_db


def _post(
    conversation: Conversation,
    sender,
    body: str = "hi",
    client_id: str | None = None,
    role: str = "peer_supporter",
):  # type: ignore[no-untyped-def]
    return post_message(
        conversation_id=conversation.pk,
        sender=sender,
        sender_role=role,
        channel="web",
        body=body,
        client_id=uuid.uuid4().hex if client_id is None else client_id,
    )


def test_enrolment_with_peer_support_opens_one_conversation(world: World) -> None:
    assert Conversation.objects.filter(enrolment=world.own).count() == 1
    assert open_conversation(enrolment=world.own) == Conversation.objects.get(enrolment=world.own)
    assert Conversation.objects.filter(enrolment=world.own).count() == 1


def test_enrolment_without_peer_support_has_no_conversation() -> None:
    programme = make_programme()
    enrolment = enrol(programme, peer_support=False)
    assert not Conversation.objects.filter(enrolment=enrolment).exists()
    assert open_conversation(enrolment=enrolment) is None


def test_sequence_numbers_start_at_one_and_have_no_gaps(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    seqs = [_post(conversation, world.peer).message.seq for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    conversation.refresh_from_db()
    assert conversation.last_seq == 5
    assert conversation.last_message_at is not None


def test_the_same_client_id_returns_the_first_message(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    first = _post(conversation, world.peer, body="first", client_id="same")
    again = _post(conversation, world.peer, body="second", client_id="same")
    assert (first.created, again.created) == (True, False)
    assert again.message.pk == first.message.pk
    assert again.payload["body"] == "first"
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_the_body_is_stored_encrypted(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    posted = _post(conversation, world.peer, body="a very particular sentence")
    raw = bytes(Message.objects.get(pk=posted.message.pk).body_ciphertext)
    assert b"particular" not in raw


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "empty_body"),
        ("   \n", "empty_body"),
        ("x" * 4001, "body_too_long"),
        ("lone \ud800 surrogate", "invalid_body"),
    ],
)
def test_bad_bodies_are_refused_and_write_nothing(world: World, body: str, code: str) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    with pytest.raises(DomainError) as excinfo:
        _post(conversation, world.peer, body=body)
    assert excinfo.value.code == code
    assert not Message.objects.exists()


def test_a_body_of_exactly_4000_characters_is_accepted_for_a_web_reader(world: World) -> None:
    Participant.objects.filter(pk=world.own.participant_id).update(preferred_channel=Channel.WEB)
    conversation = Conversation.objects.get(enrolment=world.own)
    assert _post(conversation, world.peer, body="y" * 4000).created


def test_a_body_of_exactly_1600_characters_is_accepted_for_an_sms_reader(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    posted = _post(conversation, world.peer, body="y" * 1600)
    assert SmsOutbox.objects.filter(message=posted.message).exists()


def test_a_longer_body_for_an_sms_reader_is_refused_and_nothing_is_written(world: World) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    with pytest.raises(DomainError) as excinfo:
        _post(conversation, world.peer, body="y" * 1601)
    assert excinfo.value.code == "too_long_for_sms"
    assert not Message.objects.filter(conversation=conversation).exists()
    assert not SmsOutbox.objects.exists()


@pytest.mark.parametrize("client_id", ["", "x" * 81, "tab\there"])
def test_bad_client_ids_are_refused(world: World, client_id: str) -> None:
    conversation = Conversation.objects.get(enrolment=world.own)
    with pytest.raises(DomainError) as excinfo:
        _post(conversation, world.peer, client_id=client_id)
    assert excinfo.value.code == "invalid_client_id"


def test_an_unknown_conversation_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        post_message(
            conversation_id=uuid.uuid4(),
            sender=world.peer,
            sender_role="peer_supporter",
            channel="web",
            body="hello",
            client_id="c",
        )


def test_a_peer_message_to_an_sms_reader_queues_and_sends_one_sms(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    conversation = Conversation.objects.get(enrolment=world.own)
    assert world.own.participant.preferred_channel == Channel.SMS
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(conversation, world.peer, body="see you tomorrow")
    outbox = SmsOutbox.objects.get(message=posted.message)
    assert outbox.status == OutboxStatus.SENT
    assert [sms.body for sms in FAKE_TWILIO.sent] == ["see you tomorrow"]


def test_a_redelivered_sms_task_sends_nothing_more(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    from messaging.tasks import deliver_sms

    conversation = Conversation.objects.get(enrolment=world.own)
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(conversation, world.peer)
    assert deliver_sms(SmsOutbox.objects.get(message=posted.message).pk) == "already-handled"
    assert len(FAKE_TWILIO.sent) == 1


def test_no_sms_is_sent_without_sms_consent(
    world: World, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    from people.services import withdraw_consent

    withdraw_consent(participant=world.own.participant, kind="sms", source="sms")
    conversation = Conversation.objects.get(enrolment=world.own)
    with django_capture_on_commit_callbacks(execute=True):
        posted = _post(conversation, world.peer)
    assert SmsOutbox.objects.get(message=posted.message).status == OutboxStatus.SKIPPED
    assert FAKE_TWILIO.sent == []


def test_messages_from_the_participant_or_to_a_web_reader_queue_no_sms() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    enrolment = enrol(programme, channel=Channel.WEB)
    conversation = Conversation.objects.get(enrolment=enrolment)
    _post(conversation, peer)
    _post(conversation, enrolment.participant.user, role="participant")
    assert not SmsOutbox.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_get_distinct_gap_free_sequence_numbers() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    enrolment = enrol(programme, channel=Channel.WEB)
    conversation = Conversation.objects.get(enrolment=enrolment)
    errors: list[str] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                _post(conversation, peer, client_id=f"w{n}-{i}")
                # And one retry of the same client id, as a reconnecting client would send.
                _post(conversation, peer, client_id=f"w{n}-{i}")
        except Exception as exc:
            errors.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    seqs = sorted(Message.objects.filter(conversation=conversation).values_list("seq", flat=True))
    assert seqs == list(range(1, 41))


def test_post_as_member_takes_the_role_from_the_membership(world: World) -> None:
    from messaging.services import post_as_member

    conversation = Conversation.objects.get(enrolment=world.own)
    by_peer = post_as_member(
        conversation_id=conversation.pk, user=world.peer, channel="web", body="hi", client_id="p"
    )
    by_person = post_as_member(
        conversation_id=conversation.pk,
        user=world.own.participant.user,
        channel="web",
        body="hello",
        client_id="q",
    )
    assert by_peer.payload["sender"]["role"] == "peer_supporter"
    assert by_person.payload["sender"]["role"] == "participant"


@pytest.mark.parametrize("who", ["supervisor", "other_peer", "admin"])
def test_post_as_member_refuses_non_members_and_writes_nothing(world: World, who: str) -> None:
    from messaging.services import NotAMember, post_as_member

    conversation = Conversation.objects.get(enrolment=world.own)
    with pytest.raises(NotAMember):
        post_as_member(
            conversation_id=conversation.pk,
            user=getattr(world, who),
            channel="web",
            body="hi",
            client_id="x",
        )
    assert not Message.objects.exists()


def test_post_as_member_refuses_an_unknown_conversation(world: World) -> None:
    from messaging.services import NotAMember, post_as_member

    with pytest.raises(NotAMember):
        post_as_member(
            conversation_id=uuid.uuid4(), user=world.peer, channel="web", body="hi", client_id="x"
        )
