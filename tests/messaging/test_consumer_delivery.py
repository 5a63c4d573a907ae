"""Who hears what, live (issue 4, item 3): every socket of a member, sockets that follow the
caseload as assignments change without reconnecting, read receipts, and team alerts. Each
test runs on the in-memory layer and on a real Redis layer."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from messaging.events import conversation_group, user_group
from messaging.models import Conversation, ReadMarker
from messaging.services import post_message
from programmes import services as programmes
from programmes.models import EnrolmentStatus, HandoffReason
from tests.messaging.conftest import group_members, wait_for_group
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


def send_frame(conversation: Conversation, client_id: str, body: str) -> dict[str, Any]:
    return {
        "type": "send",
        "conversation": str(conversation.id),
        "client_id": client_id,
        "body": body,
    }


async def post(ws: Any, socket: Any, conversation: Conversation, client_id: str, body: str) -> Any:
    await socket.send_json_to(send_frame(conversation, client_id, body))
    return (await ws.last(socket, "ack"))["message"]


async def bodies_heard(ws: Any, socket: Any) -> list[str]:
    return [f["message"]["body"] for f in await ws.quiet(socket) if f["type"] == "message"]


# Several sockets per user.


async def test_every_socket_of_a_member_receives_a_message(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    phone = await connect(chat_world.peer)
    laptop = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await post(ws, person, conversation, "p1", "Are you there?")
    for socket in (phone, laptop):
        received = await ws.last(socket, "message")
        assert received["message"]["body"] == "Are you there?"


async def test_a_senders_other_socket_receives_what_they_sent(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    phone = await connect(chat_world.peer)
    laptop = await connect(chat_world.peer)
    sent = await post(ws, phone, conversation, "from-phone", "Typed on the phone")
    assert (await ws.last(laptop, "message"))["message"] == sent


async def test_a_socket_hears_nothing_of_conversations_it_does_not_follow(
    ws: Any, connect: Any, chat_world: World, other_conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    other_peer = await connect(chat_world.other_peer)
    await post(ws, other_peer, other_conversation, "o1", "Not for the other team")
    assert await bodies_heard(ws, peer) == []


async def test_a_supervisor_socket_does_not_follow_team_conversations(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    # Supervisors read on demand (audited sync); live message bodies are for members only.
    supervisor = await connect(chat_world.supervisor)
    peer = await connect(chat_world.peer)
    await post(ws, peer, conversation, "m1", "Members only")
    assert await bodies_heard(ws, supervisor) == []


# Sockets follow the caseload without reconnecting.


async def hand_off(chat_world: World, *, to: Any) -> None:
    """Hand `own` to another peer supporter, as a supervisor does, and wait until every
    socket of both peer supporters has re-subscribed."""
    before = await group_members(user_group(chat_world.peer.pk))
    after = await group_members(user_group(to.pk))
    await database_sync_to_async(programmes.assign_peer_supporter)(
        enrolment=chat_world.own,
        peer_supporter=to,
        assigned_by=chat_world.supervisor,
        reason=HandoffReason.LEAVE,
    )
    conversation_id = await database_sync_to_async(
        lambda: chat_world.own.conversation.id  # type: ignore[attr-defined]
    )()
    await wait_for_group(conversation_group(conversation_id), includes=after, excludes=before)


async def test_a_newly_assigned_peer_socket_follows_the_conversation_without_reconnecting(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    new_peer = await connect(chat_world.other_peer)
    person = await connect(chat_world.own.participant.user)
    await hand_off(chat_world, to=chat_world.other_peer)
    await post(ws, person, conversation, "after", "Hello, new person")
    assert (await ws.last(new_peer, "message"))["message"]["body"] == "Hello, new person"


async def test_the_new_peer_can_send_on_the_same_socket_after_the_handoff(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    new_peer = await connect(chat_world.other_peer)
    person = await connect(chat_world.own.participant.user)
    await hand_off(chat_world, to=chat_world.other_peer)
    await post(ws, new_peer, conversation, "hi", "I'm taking over")
    assert (await ws.last(person, "message"))["message"]["body"] == "I'm taking over"


async def test_the_previous_peer_socket_stops_receiving_after_a_handoff(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    old_phone = await connect(chat_world.peer)
    old_laptop = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await post(ws, person, conversation, "before", "Before the handoff")
    for socket in (old_phone, old_laptop):
        assert await bodies_heard(ws, socket) == ["Before the handoff"]
    await hand_off(chat_world, to=chat_world.other_peer)
    await post(ws, person, conversation, "after", "After the handoff")
    for socket in (old_phone, old_laptop):
        assert await bodies_heard(ws, socket) == []


async def test_the_previous_peer_sending_after_a_handoff_gets_not_found(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    old_peer = await connect(chat_world.peer)
    await hand_off(chat_world, to=chat_world.other_peer)
    before = await ws.message_count()
    error = await ws.error_for(old_peer, send_frame(conversation, "late", "Still here?"))
    assert (error["code"], error["client_id"]) == ("not_found", "late")
    assert await ws.message_count() == before
    await ws.assert_open(old_peer)


async def test_ending_the_enrolment_closes_the_peer_subscription(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    peer_channels = await group_members(user_group(chat_world.peer.pk))
    await database_sync_to_async(programmes.end_enrolment)(
        enrolment=chat_world.own, status=EnrolmentStatus.COMPLETED, ended_by=chat_world.admin
    )
    await wait_for_group(conversation_group(conversation.id), excludes=peer_channels)
    # Nobody writes in an ended enrolment's conversation; the person may still read it.
    error = await ws.error_for(person, send_frame(conversation, "bye", "Thanks for everything"))
    assert error["code"] == "read_only"
    # A message the server still adds (a system notice) no longer reaches the peer.
    await database_sync_to_async(post_message)(
        conversation_id=conversation.id,
        sender=None,
        sender_role="system",
        channel="system",
        body="This conversation has ended.",
        client_id="ended",
    )
    assert await bodies_heard(ws, peer) == []
    error = await ws.error_for(peer, send_frame(conversation, "x", "One more thing"))
    assert error["code"] == "not_found"
    await ws.assert_open(peer)


# Read markers.


async def three_messages(ws: Any, socket: Any, conversation: Conversation) -> None:
    for n in range(1, 4):
        await post(ws, socket, conversation, f"m{n}", f"Message {n}")


async def test_read_moves_the_marker_and_answers_with_its_position(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await three_messages(ws, peer, conversation)
    await person.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 2})
    answer = await ws.last(person, "read")
    user = chat_world.own.participant.user
    assert answer == {"type": "read", "conversation": str(conversation.id), "seq": 2, "by": user.pk}
    marker = await database_sync_to_async(ReadMarker.objects.get)(conversation=conversation)
    assert (marker.user_id, marker.seq) == (user.pk, 2)


async def test_other_members_receive_a_read_frame(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await three_messages(ws, peer, conversation)
    await person.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 3})
    receipt = await ws.last(peer, "read")
    user = chat_world.own.participant.user
    assert receipt == {
        "type": "read",
        "conversation": str(conversation.id),
        "seq": 3,
        "by": user.pk,
    }


async def test_the_readers_other_sockets_receive_the_read_frame(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    phone = await connect(chat_world.own.participant.user)
    laptop = await connect(chat_world.own.participant.user)
    peer = await connect(chat_world.peer)
    await three_messages(ws, peer, conversation)
    await phone.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 3})
    assert (await ws.last(laptop, "read"))["seq"] == 3


async def test_the_reading_socket_gets_one_read_frame_per_read(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await three_messages(ws, peer, conversation)
    await ws.quiet(person)
    await person.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 3})
    frames = await ws.quiet(person)
    assert [f["type"] for f in frames] == ["read"]


async def test_read_never_moves_the_marker_backwards(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await three_messages(ws, peer, conversation)
    await person.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 3})
    await ws.last(person, "read")
    await ws.quiet(peer)
    await person.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 1})
    assert (await ws.last(person, "read"))["seq"] == 3
    marker = await database_sync_to_async(ReadMarker.objects.get)(conversation=conversation)
    assert marker.seq == 3
    # The other members hear nothing of a read that moved nothing.
    assert await ws.quiet(peer) == []


async def test_read_past_the_last_message_stops_at_the_last_message(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await three_messages(ws, peer, conversation)
    await person.send_json_to({"type": "read", "conversation": str(conversation.id), "seq": 99})
    assert (await ws.last(person, "read"))["seq"] == 3


# Scheduled texts (issue 7): the dispatcher posts through post_message, so they ring too.


def _plan_a_supportive_text(world: World) -> Any:
    from programmes.models import Arm
    from scheduling.models import PendingSend
    from scheduling.services import configure_schedule
    from tests.scheduling.texts import library

    Arm.objects.filter(pk=world.own.arm_id).update(supportive_texts=True)
    configure_schedule(programme=world.programme, changed_by=None, library=library())
    return PendingSend.objects.get(enrolment=world.own).due_at


async def test_a_scheduled_text_reaches_the_persons_socket_labelled_automated(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    from scheduling.dispatch import dispatch_due

    person = await connect(chat_world.own.participant.user)
    peer = await connect(chat_world.peer)
    due = await database_sync_to_async(_plan_a_supportive_text)(chat_world)
    await database_sync_to_async(dispatch_due)(now=due)
    for socket in (person, peer):
        message = (await ws.last(socket, "message"))["message"]
        assert (message["channel"], message["body"]) == (
            "automated",
            "Fictional general text 1 (en).",
        )
