"""Roles and boundaries over the socket (issue 6, item 6): a peer supporter's `send` with
contact details gets a `warning` instead of an `ack` and stores nothing; the same frame with
`"confirm": true` sends it and records the confirmation. Each test runs on both layers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from messaging.boundaries import contact_details_in
from messaging.models import BoundaryConfirmation, Conversation, Message, SmsOutbox
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)

PHONE_BODY = "Call me on 780 555 0123 if you like"
REGION = django_settings.PHONE_DEFAULT_REGION


def send_frame(conversation: Conversation | str, **fields: Any) -> dict[str, Any]:
    frame = {
        "type": "send",
        "conversation": str(getattr(conversation, "id", conversation)),
        "client_id": "c-1",
        "body": PHONE_BODY,
    }
    frame.update(fields)
    return frame


async def answer(socket: Any) -> dict[str, Any]:
    """The frame's answer, past the `message` and `delivery` doorbells."""
    while True:
        frame: dict[str, Any] = await socket.receive_json_from(timeout=5)
        if frame["type"] not in ("message", "delivery"):
            return frame


@database_sync_to_async
def stored(conversation: Conversation) -> dict[str, int]:
    return {
        "messages": Message.objects.filter(conversation=conversation).count(),
        "outbox": SmsOutbox.objects.filter(message__conversation=conversation).count(),
        "confirmations": BoundaryConfirmation.objects.count(),
        "last_seq": Conversation.objects.get(pk=conversation.pk).last_seq,
    }


@pytest.fixture
async def peer(connect: Any, chat_world: World) -> Any:
    return await connect(chat_world.peer)


@pytest.fixture
async def person(connect: Any, chat_world: World) -> Any:
    return await connect(chat_world.own.participant.user)


async def test_a_send_with_contact_details_gets_a_warning_and_stores_nothing(
    ws: Any, peer: Any, person: Any, conversation: Conversation
) -> None:
    body = "780.555.0123, jane@example.com, @jane_doe, instagram.com/jane_doe"
    await peer.send_json_to(send_frame(conversation, body=body))
    warning = await answer(peer)
    assert warning == {
        "type": "warning",
        "code": "contact_details",
        "kinds": ["phone", "email", "handle", "link"],
        "client_id": "c-1",
        "detail": warning["detail"],
    }
    assert isinstance(warning["detail"], str) and warning["detail"]
    # Kinds only: none of the details comes back, not even to the sender.
    for part in ("780", "555", "jane", "example", "instagram"):
        assert part not in warning["detail"]
    assert await stored(conversation) == {
        "messages": 0,
        "outbox": 0,
        "confirmations": 0,
        "last_seq": 0,
    }
    # Nobody heard of it, and the next message takes the first seq.
    assert await ws.quiet(person) == []
    await peer.send_json_to(send_frame(conversation, client_id="c-2", body="Talk soon"))
    ack = await answer(peer)
    assert ack["type"] == "ack" and ack["message"]["seq"] == 1


async def test_confirm_sends_it_and_records_one_confirmation(
    ws: Any, peer: Any, person: Any, conversation: Conversation, chat_world: World
) -> None:
    await peer.send_json_to(send_frame(conversation))
    assert (await answer(peer))["type"] == "warning"
    await peer.send_json_to(send_frame(conversation, confirm=True))
    ack = await answer(peer)
    assert ack["type"] == "ack" and ack["client_id"] == "c-1"
    assert ack["message"]["seq"] == 1 and ack["message"]["body"] == PHONE_BODY
    received = await ws.last(person, "message")
    assert received["message"]["id"] == ack["message"]["id"]
    counts = await stored(conversation)
    # The person reads by SMS: the message goes out to them as any other.
    assert counts == {"messages": 1, "outbox": 1, "confirmations": 1, "last_seq": 1}
    confirmation = await database_sync_to_async(BoundaryConfirmation.objects.get)()
    assert str(confirmation.message_id) == ack["message"]["id"]
    assert confirmation.peer_supporter_id == chat_world.peer.pk
    assert confirmation.kinds == ["phone"]


@pytest.mark.parametrize("confirm", [True, False, None])
async def test_a_resend_of_a_sent_message_is_acknowledged_with_it_and_confirmed_once(
    peer: Any, conversation: Conversation, confirm: bool | None
) -> None:
    await peer.send_json_to(send_frame(conversation, confirm=True))
    first = await answer(peer)
    resend = (
        send_frame(conversation) if confirm is None else send_frame(conversation, confirm=confirm)
    )
    await peer.send_json_to(resend)
    again = await answer(peer)
    # Idempotency wins: the message is already sent, so there is nothing left to confirm.
    assert again["type"] == "ack" and again["message"]["id"] == first["message"]["id"]
    counts = await stored(conversation)
    assert counts["messages"] == 1 and counts["confirmations"] == 1


async def test_confirm_false_is_no_confirmation(peer: Any, conversation: Conversation) -> None:
    await peer.send_json_to(send_frame(conversation, confirm=False))
    assert (await answer(peer))["type"] == "warning"
    assert (await stored(conversation))["messages"] == 0


async def test_confirming_a_message_without_contact_details_records_nothing(
    peer: Any, conversation: Conversation
) -> None:
    await peer.send_json_to(send_frame(conversation, body="See you at 10:30", confirm=True))
    assert (await answer(peer))["type"] == "ack"
    assert (await stored(conversation))["confirmations"] == 0


@pytest.mark.parametrize("confirm", ["yes", "true", 1, 0, None, [], {}, 1.0])
async def test_confirm_of_a_wrong_type_is_an_invalid_frame(
    ws: Any, peer: Any, conversation: Conversation, confirm: Any
) -> None:
    error = await ws.error_for(peer, send_frame(conversation, confirm=confirm))
    assert error["code"] == "invalid_frame" and error["client_id"] == "c-1"
    assert (await stored(conversation))["messages"] == 0
    await ws.assert_open(peer)


async def test_the_service_users_messages_are_never_held(
    person: Any, conversation: Conversation
) -> None:
    await person.send_json_to(
        send_frame(conversation, body="my number is 780 555 0123, or me@example.com")
    )
    ack = await answer(person)
    assert ack["type"] == "ack" and ack["message"]["sender"]["role"] == "participant"
    assert (await stored(conversation))["confirmations"] == 0


async def test_someone_who_may_not_post_gets_the_usual_error_not_a_warning(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    outsider = await connect(chat_world.other_peer)
    assert (await ws.error_for(outsider, send_frame(conversation)))["code"] == "not_found"
    supervisor = await connect(chat_world.supervisor)
    assert (await ws.error_for(supervisor, send_frame(conversation)))["code"] == "read_only"
    assert (await stored(conversation))["messages"] == 0


# --- arbitrary frames ---------------------------------------------------------------------

contact_bodies = st.sampled_from(
    [
        PHONE_BODY,
        "(403) 555-0117",
        "jane@example.com",
        "@jane_doe",
        "wa.me/17805550123",
        "Hello",
        "meet @ 5",
        "See you at 10:30",
        "",
        "x" * 4001,
    ]
)
bodies = st.one_of(
    contact_bodies,
    contact_bodies,
    st.tuples(contact_bodies, st.text(max_size=10)).map(" ".join),
    st.text(max_size=40),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@st.composite
def send_frames(draw: st.DrawFn, own: str, other: str) -> str:
    # Mostly good ids, some repeated (resends), now and then a bad one.
    client_ids = st.integers(0, 40).map("c-{}".format)
    if draw(st.integers(0, 9)) == 0:
        client_ids = st.text(max_size=6)
    frame: dict[str, Any] = {
        "type": draw(st.sampled_from(["send"] * 9 + ["ping"])),
        "conversation": draw(st.sampled_from([own] * 8 + [other, str(uuid.uuid4()), "nope"])),
        "client_id": draw(client_ids),
        "body": draw(bodies),
    }
    confirm = draw(st.sampled_from(["missing"] * 3 + ["true"] * 3 + ["false"] * 2 + ["wrong"]))
    if confirm in ("true", "false"):
        frame["confirm"] = confirm == "true"
    elif confirm == "wrong":
        frame["confirm"] = draw(json_values.filter(lambda v: not isinstance(v, bool)))
    for name in list(frame):
        if name != "type" and draw(st.integers(0, 20)) == 0:
            frame[name] = draw(json_values)  # now and then a field of the wrong type
    return json.dumps(frame)


@pytest.fixture
async def fuzz_peer(connect: Any, chat_world: World, settings: Any) -> Any:
    settings.WS_FRAMES_PER_SECOND = 1e9  # the rate limit has its own test
    settings.WS_FRAME_BURST = 10**9
    return await connect(chat_world.peer)


@pytest.fixture
def ledger() -> dict[str, dict[str, str]]:
    """Across examples: every message acknowledged to the socket, id -> body."""
    return {"acked": {}}


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_arbitrary_frames_never_break_the_socket_and_only_confirmed_details_are_sent(
    data: st.DataObject,
    ws: Any,
    fuzz_peer: Any,
    ledger: dict[str, dict[str, str]],
    conversation: Conversation,
    other_conversation: Conversation,
) -> None:
    batch = data.draw(
        st.lists(send_frames(str(conversation.id), str(other_conversation.id)), max_size=6)
    )
    for text in batch:
        frame = json.loads(text)
        await fuzz_peer.send_to(text_data=text)
        reply = await answer(fuzz_peer)
        event(f"answer: {reply['type']} {reply.get('code', '')}".strip())
        if frame["type"] == "ping":
            assert reply == {"type": "pong"}
            continue
        assert reply["type"] in {"ack", "warning", "error"}, reply
        if "confirm" in frame and not isinstance(frame["confirm"], bool):
            assert reply["type"] == "error"
        if reply["type"] == "warning":
            assert frame.get("confirm") is not True
            assert reply["code"] == "contact_details" and reply["client_id"] == frame["client_id"]
            assert reply["kinds"] == contact_details_in(frame["body"], region=REGION)
        if reply["type"] == "ack":
            ledger["acked"][reply["message"]["id"]] = reply["message"]["body"]
    # What is stored is exactly what was acknowledged; a peer supporter's stored message with
    # contact details was confirmed, once, with its kinds.
    messages = await database_sync_to_async(
        lambda: {str(pk) for pk in Message.objects.values_list("id", flat=True)}
    )()
    assert messages == set(ledger["acked"])
    confirmations = await database_sync_to_async(
        lambda: {str(c.message_id): c.kinds for c in BoundaryConfirmation.objects.all()}
    )()
    expected = {
        message_id: found
        for message_id, body in ledger["acked"].items()
        if (found := contact_details_in(body, region=REGION))
    }
    assert confirmations == expected
    await ws.assert_open(fuzz_peer)
