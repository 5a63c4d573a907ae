"""Doorbells (messaging/events.py): rung one by one, or batched and sent together on leaving
the batch, in order (the dispatcher rings for a whole batch of texts at once)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from messaging import events


async def _next_or_none(channel: str) -> dict[str, object] | None:
    layer = get_channel_layer()
    assert layer is not None
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout=0.05)
    except TimeoutError:
        return None


@pytest.fixture
def listening() -> tuple[uuid.UUID, str]:
    layer = get_channel_layer()
    assert layer is not None
    conversation = uuid.uuid4()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.conversation_group(conversation), channel)
    return conversation, channel


def test_a_doorbell_outside_a_batch_rings_at_once(listening: tuple[uuid.UUID, str]) -> None:
    conversation, channel = listening
    events.message_posted(conversation, {"id": "m1"})
    heard = async_to_sync(_next_or_none)(channel)
    assert heard is not None and heard["message"] == {"id": "m1"}


def test_batched_doorbells_wait_for_the_end_of_the_batch_then_ring_in_order(
    listening: tuple[uuid.UUID, str],
) -> None:
    conversation, channel = listening
    with events.batched():
        events.message_posted(conversation, {"id": "m1"})
        with events.batched():  # a nested batch joins the outer one
            events.message_posted(conversation, {"id": "m2"})
        assert async_to_sync(_next_or_none)(channel) is None
    heard = [async_to_sync(_next_or_none)(channel) for _ in range(3)]
    assert [h["message"] if h else None for h in heard] == [{"id": "m1"}, {"id": "m2"}, None]
