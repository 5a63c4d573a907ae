"""Fixtures for the chat: a world with a conversation, and sockets connected to the real ASGI
application (auth middleware included) through Channels' communicator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from access.services import issue_ws_ticket
from messaging.models import Conversation
from tests.support.factories import World, make_world


@pytest.fixture
def chat_world(transactional_db: None) -> World:
    return make_world()


@pytest.fixture
def conversation(chat_world: World) -> Conversation:
    return Conversation.objects.get(enrolment=chat_world.own)


@pytest.fixture(params=["memory", "redis"])
def channel_layer_backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """Every consumer test runs on the in-memory layer and on a real Redis layer."""
    if request.param == "redis":
        redis_server = request.getfixturevalue("redis_server")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis_server.url], "prefix": f"t{id(request)}"},
            }
        }
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


Connect = Callable[..., Awaitable[WebsocketCommunicator]]


@pytest.fixture
async def connect(channel_layer_backend: str) -> AsyncIterator[Connect]:
    from peerlink.asgi import application

    opened: list[WebsocketCommunicator] = []

    async def open_socket(user: Any, *, expect_connected: bool = True) -> WebsocketCommunicator:
        ticket = await database_sync_to_async(issue_ws_ticket)(user=user)
        communicator = WebsocketCommunicator(application, f"/ws/?ticket={ticket}")
        connected, _ = await communicator.connect(timeout=5)
        assert connected is expect_connected
        opened.append(communicator)
        return communicator

    yield open_socket
    for communicator in opened:
        await communicator.disconnect()
