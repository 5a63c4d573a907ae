"""Bad input over the socket (issue 4, item 6): every wrong frame gets an `error` frame with a
code, writes nothing, and leaves the socket open. Each test runs on both channel layers."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async

from audit.models import AuditEntry
from messaging.models import Conversation, ReadMarker
from people.models import Channel, Participant
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


def send_frame(target: Conversation | str, /, **fields: Any) -> dict[str, Any]:
    frame = {
        "type": "send",
        "conversation": str(getattr(target, "id", target)),
        "client_id": "c-1",
        "body": "Hello",
    }
    frame.update(fields)
    return {k: v for k, v in frame.items() if v is not ...}


@pytest.fixture
async def peer(connect: Any, chat_world: World) -> Any:
    return await connect(chat_world.peer)


async def assert_rejected(
    ws: Any, socket: Any, frame: Any = None, *, text: str | None = None, code: str
) -> dict[str, Any]:
    """The frame gets an error with `code`, nothing is written, and the socket stays open."""
    before = await ws.message_count()
    error = await ws.error_for(socket, frame, text=text)
    assert error["code"] == code, error
    assert isinstance(error["detail"], str) and error["detail"]
    assert await ws.message_count() == before
    await ws.assert_open(socket)
    return error


# Not a frame at all.


async def test_invalid_json_is_rejected(ws: Any, peer: Any) -> None:
    await assert_rejected(ws, peer, text="{not json", code="invalid_json")


async def test_a_json_array_is_not_a_frame(ws: Any, peer: Any) -> None:
    await assert_rejected(ws, peer, text='[{"type": "ping"}]', code="invalid_frame")


@pytest.mark.parametrize("text", ['"ping"', "42", "null", "true"])
async def test_a_json_scalar_is_not_a_frame(ws: Any, peer: Any, text: str) -> None:
    await assert_rejected(ws, peer, text=text, code="invalid_frame")


async def test_a_binary_frame_is_rejected(ws: Any, peer: Any) -> None:
    await peer.send_to(bytes_data=b'{"type": "ping"}')
    error = await peer.receive_json_from(timeout=ws.timeout)
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    await ws.assert_open(peer)


async def test_an_unknown_type_is_rejected(ws: Any, peer: Any) -> None:
    await assert_rejected(ws, peer, {"type": "delete_everything"}, code="unknown_type")


@pytest.mark.parametrize("frame", [{}, {"type": None}, {"type": 1}, {"type": ["send"]}])
async def test_a_missing_or_wrong_typed_type_is_rejected(
    ws: Any, peer: Any, frame: dict[str, Any]
) -> None:
    await assert_rejected(ws, peer, frame, code="unknown_type")


async def test_an_oversized_frame_is_rejected_before_parsing(ws: Any, peer: Any) -> None:
    await assert_rejected(ws, peer, text=" " * 70_000 + "{}", code="frame_too_large")


async def test_text_with_lone_surrogates_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    # Valid JSON whose string escapes decode to no valid Unicode text: it can't be encrypted
    # or stored, and must not crash the socket.
    text = json.dumps(send_frame(conversation, body="Hi \ud83d there"))
    await assert_rejected(ws, peer, text=text, code="invalid_frame")


# send: fields.


async def test_send_without_a_conversation_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, conversation=...), code="invalid_frame"
    )


@pytest.mark.parametrize("value", [None, 42, ["x"], {"id": "x"}])
async def test_send_with_a_wrong_typed_conversation_is_rejected(
    ws: Any, peer: Any, conversation: Conversation, value: Any
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, conversation=value), code="invalid_frame"
    )


async def test_send_without_a_body_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(ws, peer, send_frame(conversation, body=...), code="empty_body")


@pytest.mark.parametrize("value", [None, 42, ["Hello"], {"text": "Hello"}, True])
async def test_send_with_a_wrong_typed_body_is_rejected(
    ws: Any, peer: Any, conversation: Conversation, value: Any
) -> None:
    await assert_rejected(ws, peer, send_frame(conversation, body=value), code="empty_body")


async def test_send_with_an_empty_body_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(ws, peer, send_frame(conversation, body=""), code="empty_body")


async def test_send_with_a_whitespace_only_body_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, body=" \t\n\u00a0\u3000 "), code="empty_body"
    )


async def test_send_with_a_body_over_4000_characters_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(ws, peer, send_frame(conversation, body="x" * 4001), code="body_too_long")


async def _reads_on_the_web(conversation: Conversation) -> None:
    """Bodies over 1,600 characters can't go by SMS: these tests talk to a web reader."""
    await Participant.objects.filter(enrolments__conversation__pk=conversation.pk).aupdate(
        preferred_channel=Channel.WEB
    )


async def test_send_with_a_body_of_exactly_4000_characters_is_accepted(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await _reads_on_the_web(conversation)
    await peer.send_json_to(send_frame(conversation, body="x" * 4000))
    ack = await ws.last(peer, "ack")
    assert ack["message"]["body"] == "x" * 4000
    assert await ws.message_count(conversation) == 1


async def test_a_4000_character_body_is_accepted_even_when_every_character_is_escaped(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    # An emoji escaped as a surrogate pair takes 12 characters of JSON ("\ud83d\ude00"):
    # the frame limit must leave room for the longest body a client may legitimately send.
    await _reads_on_the_web(conversation)
    body = "\U0001f600" * 4000
    text = json.dumps(send_frame(conversation, body=body), ensure_ascii=True)
    assert len(text) > 48_000
    await peer.send_to(text_data=text)
    ack = await ws.last(peer, "ack")
    assert ack["message"]["body"] == body
    assert await ws.message_count(conversation) == 1


async def test_send_without_a_client_id_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, client_id=...), code="invalid_client_id"
    )


@pytest.mark.parametrize("value", ["", None, 7, ["c-1"]])
async def test_send_with_an_empty_or_wrong_typed_client_id_is_rejected(
    ws: Any, peer: Any, conversation: Conversation, value: Any
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, client_id=value), code="invalid_client_id"
    )


async def test_send_with_a_client_id_over_80_characters_is_rejected(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, client_id="c" * 81), code="invalid_client_id"
    )


@pytest.mark.parametrize("value", ["c\n1", "c\x001", "c\u200b1", "c\x1b[31m"])
async def test_send_with_a_non_printable_client_id_is_rejected(
    ws: Any, peer: Any, conversation: Conversation, value: str
) -> None:
    await assert_rejected(
        ws, peer, send_frame(conversation, client_id=value), code="invalid_client_id"
    )


async def test_a_client_id_of_exactly_80_characters_is_accepted(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    await peer.send_json_to(send_frame(conversation, client_id="c" * 80))
    assert (await ws.last(peer, "ack"))["client_id"] == "c" * 80


# sync and read: fields.


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "sync", "after_seq": 0},
        {"type": "sync", "conversation": None, "after_seq": 0},
        {"type": "sync", "conversation": 5, "after_seq": 0},
        {"type": "sync", "conversation": "C"},
        {"type": "sync", "conversation": "C", "after_seq": "0"},
        {"type": "sync", "conversation": "C", "after_seq": 1.5},
        {"type": "sync", "conversation": "C", "after_seq": -1},
        {"type": "sync", "conversation": "C", "after_seq": True},
        {"type": "sync", "conversation": "C", "after_seq": None},
        {"type": "sync", "conversation": "C", "after_seq": 2**63},
    ],
    ids=lambda f: ",".join(f"{k}={v!r}" for k, v in f.items() if k != "type"),
)
async def test_sync_with_missing_or_wrong_typed_fields_is_rejected(
    ws: Any, peer: Any, conversation: Conversation, frame: dict[str, Any]
) -> None:
    if frame.get("conversation") == "C":
        frame = {**frame, "conversation": str(conversation.id)}
    await assert_rejected(ws, peer, frame, code="invalid_frame")


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "read", "seq": 0},
        {"type": "read", "conversation": [], "seq": 0},
        {"type": "read", "conversation": "C"},
        {"type": "read", "conversation": "C", "seq": "1"},
        {"type": "read", "conversation": "C", "seq": -3},
        {"type": "read", "conversation": "C", "seq": 0.0},
        {"type": "read", "conversation": "C", "seq": False},
        {"type": "read", "conversation": "C", "seq": 10**30},
    ],
    ids=lambda f: ",".join(f"{k}={v!r}" for k, v in f.items() if k != "type"),
)
async def test_read_with_missing_or_wrong_typed_fields_is_rejected(
    ws: Any, peer: Any, conversation: Conversation, frame: dict[str, Any]
) -> None:
    if frame.get("conversation") == "C":
        frame = {**frame, "conversation": str(conversation.id)}
    await assert_rejected(ws, peer, frame, code="invalid_frame")
    markers = ReadMarker.objects.filter(conversation=conversation)
    assert await database_sync_to_async(markers.count)() == 0


# Error frames name the client's message.


async def test_an_error_for_send_echoes_the_client_id(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    error = await assert_rejected(
        ws, peer, send_frame(conversation, client_id="mine-7", body=""), code="empty_body"
    )
    assert error["client_id"] == "mine-7"


async def test_an_error_for_sync_echoes_the_client_id_when_given(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    error = await assert_rejected(
        ws,
        peer,
        {"type": "sync", "conversation": str(conversation.id), "client_id": "s-1"},
        code="invalid_frame",
    )
    assert error["client_id"] == "s-1"


async def test_an_error_without_a_client_id_has_none(
    ws: Any, peer: Any, conversation: Conversation
) -> None:
    error = await assert_rejected(
        ws, peer, {"type": "sync", "conversation": str(conversation.id)}, code="invalid_frame"
    )
    assert "client_id" not in error


# Conversations the user may not see: indistinguishable from ones that do not exist.


async def test_send_to_a_missing_or_forbidden_conversation_gets_the_same_error(
    ws: Any, peer: Any, other_conversation: Conversation
) -> None:
    missing = await assert_rejected(
        ws, peer, send_frame(str(uuid.uuid4()), client_id="x"), code="not_found"
    )
    forbidden = await assert_rejected(
        ws, peer, send_frame(other_conversation, client_id="x"), code="not_found"
    )
    assert missing == forbidden


@pytest.mark.parametrize("conversation_id", ["", "not-a-uuid", "0" * 5000])
async def test_send_to_a_malformed_conversation_id_gets_not_found(
    ws: Any, peer: Any, conversation_id: str
) -> None:
    await assert_rejected(ws, peer, send_frame(conversation_id), code="not_found")


async def test_sync_of_a_missing_or_forbidden_conversation_gets_the_same_error(
    ws: Any, peer: Any, other_conversation: Conversation
) -> None:
    missing = await assert_rejected(
        ws,
        peer,
        {"type": "sync", "conversation": str(uuid.uuid4()), "after_seq": 0},
        code="not_found",
    )
    forbidden = await assert_rejected(
        ws,
        peer,
        {"type": "sync", "conversation": str(other_conversation.id), "after_seq": 0},
        code="not_found",
    )
    assert missing == forbidden


async def test_read_of_a_missing_or_forbidden_conversation_gets_the_same_error(
    ws: Any, peer: Any, other_conversation: Conversation
) -> None:
    missing = await assert_rejected(
        ws, peer, {"type": "read", "conversation": str(uuid.uuid4()), "seq": 1}, code="not_found"
    )
    forbidden = await assert_rejected(
        ws,
        peer,
        {"type": "read", "conversation": str(other_conversation.id), "seq": 1},
        code="not_found",
    )
    assert missing == forbidden


# Roles that may read but not write, and roles that see nothing.


async def test_a_supervisor_may_sync_a_team_conversation_and_the_read_is_audited(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    await peer.send_json_to(send_frame(conversation, client_id="m1", body="How are you?"))
    await ws.last(peer, "ack")
    supervisor = await connect(chat_world.supervisor)
    await supervisor.send_json_to(
        {"type": "sync", "conversation": str(conversation.id), "after_seq": 0}
    )
    frames = await ws.until(supervisor, "synced")
    assert [f["message"]["body"] for f in frames if f["type"] == "message"] == ["How are you?"]
    entries = AuditEntry.objects.filter(
        action="conversation.read",
        actor_id=chat_world.supervisor.pk,
        target_id=str(conversation.id),
    )
    assert await database_sync_to_async(entries.count)() == 1


async def test_a_supervisor_sending_gets_read_only(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    supervisor = await connect(chat_world.supervisor)
    await assert_rejected(ws, supervisor, send_frame(conversation), code="read_only")


async def test_a_supervisor_marking_read_gets_read_only(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    # Read markers belong to members; a supervisor's read must not show up as a read receipt.
    supervisor = await connect(chat_world.supervisor)
    await assert_rejected(
        ws,
        supervisor,
        {"type": "read", "conversation": str(conversation.id), "seq": 0},
        code="read_only",
    )
    markers = ReadMarker.objects.filter(conversation=conversation)
    assert await database_sync_to_async(markers.count)() == 0


@pytest.mark.parametrize("role", ["evaluator", "admin"])
@pytest.mark.parametrize("kind", ["send", "sync", "read"])
async def test_evaluators_and_admins_see_no_conversation(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, role: str, kind: str
) -> None:
    socket = await connect(getattr(chat_world, role))
    frame = {
        "send": send_frame(conversation),
        "sync": {"type": "sync", "conversation": str(conversation.id), "after_seq": 0},
        "read": {"type": "read", "conversation": str(conversation.id), "seq": 0},
    }[kind]
    await assert_rejected(ws, socket, frame, code="not_found")


async def test_a_participant_cannot_see_another_participants_conversation(
    ws: Any, connect: Any, chat_world: World, other_conversation: Conversation
) -> None:
    person = await connect(chat_world.own.participant.user)
    await assert_rejected(ws, person, send_frame(other_conversation), code="not_found")


# Rate limit.


async def test_frames_over_the_rate_limit_get_rate_limited(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation, settings: Any
) -> None:
    settings.WS_FRAMES_PER_SECOND = 1.0
    settings.WS_FRAME_BURST = 3
    peer = await connect(chat_world.peer)
    # Five frames at once: the burst allows three; the two sends over it are refused unwritten.
    for _ in range(3):
        await peer.send_json_to({"type": "ping"})
    for n in range(2):
        await peer.send_json_to(send_frame(conversation, client_id=f"over-{n}"))
    answers = [await peer.receive_json_from(timeout=ws.timeout) for _ in range(5)]
    assert answers[:3] == [{"type": "pong"}] * 3
    assert [(a["type"], a["code"]) for a in answers[3:]] == [("error", "rate_limited")] * 2
    assert await ws.message_count() == 0
    # The socket stays open: once the budget refills, frames are served again.
    await asyncio.sleep(1.1)
    await ws.assert_open(peer)


async def test_repeated_not_found_errors_do_not_pile_up_tracebacks(chat_world: World) -> None:
    # One shared exception instance, raised again and again, chains every traceback (and
    # keeps every frame's locals, message bodies included, alive). Each error is fresh.
    from messaging import consumers

    raised = []
    for _ in range(3):
        with pytest.raises(consumers.FrameError) as caught:
            await consumers._post(chat_world.peer, str(uuid.uuid4()), "c-1", "a private body")
        raised.append(caught.value)
    assert len({id(exc) for exc in raised}) == 3

    def depth(exc: BaseException) -> int:
        tb, n = exc.__traceback__, 0
        while tb is not None:
            tb, n = tb.tb_next, n + 1
        return n

    assert depth(raised[2]) == depth(raised[0])
