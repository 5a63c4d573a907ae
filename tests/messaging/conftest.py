"""Fixtures for the chat: a world with a conversation, and sockets connected to the real ASGI
application (auth middleware included) through Channels' communicator.

Every consumer test runs twice: on the in-memory channel layer and on a real Redis layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator

from access.services import issue_ws_ticket
from messaging.models import Conversation, Message
from tests.support.factories import World, make_world

# As production must configure it: no socket timeout on the channel layer's connections.
# channels_redis blocks in BZPOPMIN for 5 s, and redis-py 8's default socket_timeout of 5 s
# tears idle consumers down (django/channels_redis#422); any finite socket timeout also lets
# a consumer that is cancelled while its first read starts hang until the timeout expires.
REDIS_SOCKET_TIMEOUT = None

ALLOWED_ORIGIN = "http://testserver"
FOREIGN_ORIGIN = "https://evil.example"
TIMEOUT = 5


@pytest.fixture
def chat_world(transactional_db: None) -> World:
    return make_world()


@pytest.fixture
def conversation(chat_world: World) -> Conversation:
    return Conversation.objects.get(enrolment=chat_world.own)


@pytest.fixture
def other_conversation(chat_world: World) -> Conversation:
    """A conversation on another peer supporter's caseload (not the supervisor's team)."""
    return Conversation.objects.get(enrolment=chat_world.others)


@pytest.fixture
def layer_capacity() -> int | None:
    """Messages a channel holds before the layer drops; a test overrides it by parametrising
    (`@pytest.mark.parametrize("layer_capacity", [2])`) to force an overflow."""
    return None


@pytest.fixture(params=["memory", "redis"])
def channel_layer_backend(
    request: pytest.FixtureRequest, settings: Any, layer_capacity: int | None
) -> Iterator[str]:
    """Every consumer test runs on the in-memory layer and on a real Redis layer."""
    extra: dict[str, Any] = {} if layer_capacity is None else {"capacity": layer_capacity}
    if request.param == "redis":
        redis_server = request.getfixturevalue("redis_server")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [
                        {"address": redis_server.url, "socket_timeout": REDIS_SOCKET_TIMEOUT}
                    ],
                    "prefix": f"t{id(request)}",
                    **extra,
                },
            }
        }
    elif extra:
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": extra}
        }
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


Connect = Callable[..., Awaitable[WebsocketCommunicator]]
OpenRaw = Callable[..., Awaitable[WebsocketCommunicator]]


class Sockets:
    """Opens communicators against the real application and closes them all afterwards."""

    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def open(
        self,
        path: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        output_limit: int | None = None,
    ) -> WebsocketCommunicator:
        from peerlink.asgi import application

        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        if output_limit is not None:
            # A client that stops reading: once this many frames wait unread, the consumer's
            # send blocks, as it does behind a slow network.
            communicator._output_queue = asyncio.Queue(maxsize=output_limit)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        self.opened.append(communicator)
        return communicator

    async def close_all(self) -> None:
        errors: list[Exception] = []
        for communicator in self.opened:
            if communicator.future.cancelled():
                continue  # a receive timed out and already stopped the application
            try:
                await communicator.disconnect()
            except Exception as exc:  # close the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture
async def sockets(transactional_db: None, channel_layer_backend: str) -> AsyncIterator[Sockets]:
    """Depends on the database so that every socket is closed before the database is reset."""
    opened = Sockets()
    yield opened
    await opened.close_all()


@pytest.fixture
async def connect(sockets: Sockets) -> Connect:
    """Open an authenticated socket for a user (by a fresh single-use ticket)."""

    async def open_socket(user: Any, *, output_limit: int | None = None) -> WebsocketCommunicator:
        ticket = await database_sync_to_async(issue_ws_ticket)(user=user)
        return await sockets.open(f"/ws/?ticket={ticket}", output_limit=output_limit)

    return open_socket


@pytest.fixture
def open_raw(sockets: Sockets) -> OpenRaw:
    """Open a socket with an explicit path and headers (for the auth tests)."""
    return sockets.open


@pytest.fixture
def session_cookie() -> Callable[[Any], Awaitable[str]]:
    """A signed-in Django session for a user, as a Cookie header value."""
    from django.conf import settings
    from django.test import Client

    def login(user: Any) -> str:
        client = Client()
        client.force_login(user)
        return (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )

    return database_sync_to_async(login)


# Channel-layer state: which sockets a group reaches. Subscriptions change inside a consumer
# when it handles `caseload.changed`, with no frame to the client, so tests wait on the layer.


async def group_members(group: str) -> set[str]:
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return set(layer.groups.get(group, {}))
    assert layer is not None
    connection = layer.connection(layer.consistent_hash(group))
    members = await connection.zrange(layer._group_key(group), 0, -1)
    return {m.decode() for m in members}


async def wait_for_group(
    group: str, *, includes: Iterable[str] = (), excludes: Iterable[str] = ()
) -> None:
    """Wait until the group reaches every channel in `includes` and none in `excludes`."""
    wanted, unwanted = set(includes), set(excludes)
    members: set[str] = set()
    for _ in range(int(TIMEOUT / 0.02)):
        members = await group_members(group)
        if wanted <= members and not unwanted & members:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{group}: {members} never included {wanted} without {unwanted}")


# Frame helpers, shared by the consumer tests through the `ws` fixture.


def without_delivery(message: dict[str, Any]) -> dict[str, Any]:
    """A message object without `delivery`, the one field that changes after the message is
    written (its SMS moves from pending to queued, sent, delivered)."""
    return {key: value for key, value in message.items() if key != "delivery"}


class WsHelpers:
    timeout = TIMEOUT

    async def until(
        self, socket: WebsocketCommunicator, wanted: str, *, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Frames up to and including the first of type `wanted`."""
        seen = []
        for _ in range(limit):
            frame = await socket.receive_json_from(timeout=TIMEOUT)
            seen.append(frame)
            if frame["type"] == wanted:
                return seen
        raise AssertionError(f"no {wanted} frame in {seen}")

    async def last(self, socket: WebsocketCommunicator, wanted: str) -> dict[str, Any]:
        return (await self.until(socket, wanted))[-1]

    async def error_for(
        self, socket: WebsocketCommunicator, frame: Any = None, *, text: str | None = None
    ) -> dict[str, Any]:
        """Send a frame (or raw text) and return the error frame it gets; fails on anything
        other than an error (message and delivery frames from the layer are skipped)."""
        if text is not None:
            await socket.send_to(text_data=text)
        else:
            await socket.send_json_to(frame)
        while True:
            answer = await socket.receive_json_from(timeout=TIMEOUT)
            if answer["type"] in ("message", "delivery"):
                continue
            assert answer["type"] == "error", answer
            return answer

    async def assert_open(self, socket: WebsocketCommunicator) -> None:
        """The socket still answers: a ping gets its pong."""
        await socket.send_json_to({"type": "ping"})
        frames = await self.until(socket, "pong")
        assert [f for f in frames if f["type"] == "error"] == []

    async def assert_closed_4401(self, socket: WebsocketCommunicator) -> None:
        assert await socket.receive_output(timeout=TIMEOUT) == {
            "type": "websocket.close",
            "code": 4401,
        }

    async def quiet(self, socket: WebsocketCommunicator, seconds: float = 0.3) -> list[Any]:
        """Everything the socket sends within `seconds` of silence."""
        frames = []
        while not await socket.receive_nothing(timeout=seconds):
            frames.append(await socket.receive_json_from(timeout=TIMEOUT))
        return frames

    async def message_count(self, conversation: Conversation | None = None) -> int:
        qs = Message.objects.all()
        if conversation is not None:
            qs = qs.filter(conversation=conversation)
        return await database_sync_to_async(qs.count)()


@pytest.fixture
def ws() -> WsHelpers:
    return WsHelpers()
