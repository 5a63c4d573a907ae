"""Random frames at one connected socket (issue 4, item 6): the consumer never crashes or
closes, answers every frame, and writes exactly the messages it acknowledges. Runs on the
in-memory layer and on a real Redis layer.

One socket serves every example: hypothesis runs each example on the test's event loop
(pytest-asyncio drives `@given` async tests), so the function-scoped socket fixture is shared
on purpose, and the database accumulates across examples (the invariants are cumulative).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from messaging.models import Conversation, Message
from tests.support import privacy_guard
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)

FRAME_TYPES = ["send", "sync", "read", "ping"]
# What answers a frame of each type; anything that is not a known frame gets an error. A
# peer supporter's send with contact details gets a `warning` (test_consumer_boundaries.py).
ANSWERS = {
    "send": {"ack", "error", "warning"},
    "sync": {"synced", "error"},
    "read": {"read", "error"},
}
ANSWER_TYPES = {"ack", "error", "pong", "synced", "read", "warning"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
client_ids = st.one_of(
    st.sampled_from(["c-1", "c-2", "c-3", "x" * 80]),
    st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=12),
    st.text(max_size=90),
)
bodies = st.one_of(
    st.text(min_size=1, max_size=60),
    st.sampled_from(["", "   ", "\n\t\u3000", "x" * 4000, "x" * 4001, "Hello"]),
).map(privacy_guard.GUARD.not_personal)
seqs = st.integers(min_value=-3, max_value=40) | st.integers() | st.just(2**63)


@st.composite
def frames(draw: st.DrawFn, own: str, other: str) -> tuple[str, Any]:
    """One frame: (kind, payload) where kind is 'text' (payload a str) or 'bytes'."""
    conversations = st.sampled_from([own] * 6 + [other, str(uuid.uuid4()), "", "nope", own.upper()])
    shape = draw(
        st.sampled_from(["real"] * 8 + ["send"] * 3 + ["json", "text", "bytes", "escapes"])
    )
    if shape == "send":
        # Well formed but for the text: any body, any client id (repeats are idempotent).
        frame = {"type": "send", "conversation": own, "client_id": draw(client_ids)}
        return "text", json.dumps({**frame, "body": draw(bodies)})
    if shape == "json":
        return "text", json.dumps(draw(json_values))
    if shape == "text":
        return "text", draw(st.text(max_size=80))
    if shape == "bytes":
        return "bytes", draw(st.binary(max_size=40))
    if shape == "escapes":
        # Valid JSON whose escapes decode to lone surrogates, in a field of a real frame.
        frame = {"type": "send", "conversation": own, "client_id": "e", "body": "hi"}
        field = draw(st.sampled_from(["body", "client_id", "conversation", "type"]))
        text = json.dumps(frame).replace(f'"{frame[field]}"', '"\\ud83d\\ude00\\udc00"', 1)
        return "text", text
    # A frame with the real keys, each value right, wrong-typed, or missing.
    known = draw(st.sampled_from([True] * 6 + [False]))
    frame: dict[str, Any] = {
        "type": draw(st.sampled_from(FRAME_TYPES) if known else json_values | st.text(max_size=6))
    }
    fields = {
        "conversation": conversations,
        "client_id": client_ids,
        "body": bodies,
        "after_seq": seqs,
        "seq": seqs,
    }
    for name, right in fields.items():
        choice = draw(st.sampled_from(["right"] * 6 + ["wrong", "missing"]))
        if choice == "right":
            frame[name] = draw(right)
        elif choice == "wrong":
            frame[name] = draw(json_values)
    return "text", json.dumps(frame)


def expected_answers(kind: str, payload: Any) -> set[str]:
    if kind == "bytes":
        return {"error"}
    try:
        frame = json.loads(payload)
    except ValueError:
        return {"error"}
    if not isinstance(frame, dict):
        return {"error"}
    frame_type = frame.get("type")
    if frame_type == "ping":
        return {"pong", "error"}  # error only for a frame that holds no valid Unicode text
    return ANSWERS.get(frame_type, {"error"}) if isinstance(frame_type, str) else {"error"}


@pytest.fixture
async def fuzz_socket(connect: Any, chat_world: World, settings: Any) -> Any:
    settings.WS_FRAMES_PER_SECOND = 1e9  # the rate limit has its own test
    settings.WS_FRAME_BURST = 10**9
    return await connect(chat_world.peer)


@pytest.fixture
def ledger() -> dict[str, set[str]]:
    """Across examples: the ids of every message acknowledged to the socket."""
    return {"acked": set()}


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_frames_never_break_the_socket_or_write_unacknowledged_messages(
    data: st.DataObject,
    ws: Any,
    fuzz_socket: Any,
    ledger: dict[str, set[str]],
    conversation: Conversation,
    other_conversation: Conversation,
) -> None:
    batch = data.draw(
        st.lists(frames(str(conversation.id), str(other_conversation.id)), min_size=1, max_size=8)
    )
    for kind, payload in batch:
        # As the ASGI server passes frames on (the communicator's send_to refuses empty ones).
        key = "bytes" if kind == "bytes" else "text"
        await fuzz_socket.send_input({"type": "websocket.receive", key: payload})
        # Exactly one answer per frame; `message` frames (sync output, or the doorbell for
        # our own sends) and `delivery` frames may come in between. A closed or crashed
        # socket raises here.
        while True:
            answer = await fuzz_socket.receive_json_from(timeout=ws.timeout)
            if answer["type"] == "message":
                assert answer["message"]["conversation"] == str(conversation.id)
                continue
            if answer["type"] == "delivery":  # where an acked message's SMS now stands
                assert answer["conversation"] == str(conversation.id)
                continue
            break
        assert answer["type"] in ANSWER_TYPES, answer
        event(f"answer: {answer['type']} {answer.get('code', '')}".strip())
        assert answer["type"] in expected_answers(kind, payload), (payload, answer)
        if answer["type"] == "error":
            assert isinstance(answer["code"], str) and isinstance(answer["detail"], str)
        if answer["type"] == "ack":
            ledger["acked"].add(answer["message"]["id"])
    # No partial writes: the messages stored are exactly those acknowledged.
    stored = await database_sync_to_async(
        lambda: {str(pk) for pk in Message.objects.values_list("id", flat=True)}
    )()
    assert stored == ledger["acked"]
    # Nothing unanswered is left, and the socket still serves.
    await ws.assert_open(fuzz_socket)
