"""Socket authentication (DESIGN.md §4 and §5): a single-use ticket, or the session cookie from
an allowed Origin only. Anything else is closed with 4401. Each test runs on both layers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from access.models import WsTicket
from access.services import issue_ws_ticket
from tests.messaging.conftest import ALLOWED_ORIGIN, FOREIGN_ORIGIN
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


def headers(*, cookie: str | None = None, origin: str | None = None) -> list[tuple[bytes, bytes]]:
    pairs = []
    if cookie is not None:
        pairs.append((b"cookie", cookie.encode()))
    if origin is not None:
        pairs.append((b"origin", origin.encode()))
    return pairs


async def test_a_ticket_opens_a_socket(ws: Any, open_raw: Any, chat_world: World) -> None:
    ticket = await database_sync_to_async(issue_ws_ticket)(user=chat_world.peer)
    socket = await open_raw(f"/ws/?ticket={ticket}")
    await ws.assert_open(socket)


async def test_a_ticket_works_only_once(ws: Any, open_raw: Any, chat_world: World) -> None:
    ticket = await database_sync_to_async(issue_ws_ticket)(user=chat_world.peer)
    first = await open_raw(f"/ws/?ticket={ticket}")
    await ws.assert_open(first)
    second = await open_raw(f"/ws/?ticket={ticket}")
    await ws.assert_closed_4401(second)


async def test_an_expired_ticket_is_refused(ws: Any, open_raw: Any, chat_world: World) -> None:
    ticket = await database_sync_to_async(issue_ws_ticket)(user=chat_world.peer)
    past = timezone.now() - dt.timedelta(seconds=1)
    await database_sync_to_async(WsTicket.objects.update)(expires_at=past)
    await ws.assert_closed_4401(await open_raw(f"/ws/?ticket={ticket}"))


async def test_an_unknown_ticket_is_refused(ws: Any, open_raw: Any, chat_world: World) -> None:
    await ws.assert_closed_4401(await open_raw("/ws/?ticket=bogus"))


async def test_a_ticket_of_a_deactivated_user_is_refused(
    ws: Any, open_raw: Any, chat_world: World
) -> None:
    ticket = await database_sync_to_async(issue_ws_ticket)(user=chat_world.peer)
    chat_world.peer.is_active = False
    await database_sync_to_async(chat_world.peer.save)(update_fields=["is_active"])
    await ws.assert_closed_4401(await open_raw(f"/ws/?ticket={ticket}"))


async def test_no_credentials_are_refused(ws: Any, open_raw: Any, chat_world: World) -> None:
    await ws.assert_closed_4401(await open_raw("/ws/"))


async def test_an_allowed_origin_without_a_session_is_refused(
    ws: Any, open_raw: Any, chat_world: World
) -> None:
    await ws.assert_closed_4401(await open_raw("/ws/", headers=headers(origin=ALLOWED_ORIGIN)))


async def test_a_session_cookie_from_an_allowed_origin_opens_a_socket(
    ws: Any, open_raw: Any, session_cookie: Any, chat_world: World
) -> None:
    cookie = await session_cookie(chat_world.peer)
    socket = await open_raw("/ws/", headers=headers(cookie=cookie, origin=ALLOWED_ORIGIN))
    await ws.assert_open(socket)


async def test_a_session_cookie_from_an_allowed_origin_with_a_port_opens_a_socket(
    ws: Any, open_raw: Any, session_cookie: Any, chat_world: World
) -> None:
    cookie = await session_cookie(chat_world.peer)
    socket = await open_raw("/ws/", headers=headers(cookie=cookie, origin="http://localhost:8000"))
    await ws.assert_open(socket)


async def test_a_session_cookie_from_a_foreign_origin_is_refused(
    ws: Any, open_raw: Any, session_cookie: Any, chat_world: World
) -> None:
    cookie = await session_cookie(chat_world.peer)
    socket = await open_raw("/ws/", headers=headers(cookie=cookie, origin=FOREIGN_ORIGIN))
    await ws.assert_closed_4401(socket)


@pytest.mark.parametrize(
    "origin",
    ["http://testserver.evil.example", "http://eviltestserver", "null", "", "testserver"],
)
async def test_a_session_cookie_from_a_look_alike_or_opaque_origin_is_refused(
    ws: Any, open_raw: Any, session_cookie: Any, chat_world: World, origin: str
) -> None:
    cookie = await session_cookie(chat_world.peer)
    socket = await open_raw("/ws/", headers=headers(cookie=cookie, origin=origin))
    await ws.assert_closed_4401(socket)


async def test_a_session_cookie_without_an_origin_is_refused(
    ws: Any, open_raw: Any, session_cookie: Any, chat_world: World
) -> None:
    cookie = await session_cookie(chat_world.peer)
    await ws.assert_closed_4401(await open_raw("/ws/", headers=headers(cookie=cookie)))


async def test_a_forged_session_cookie_is_refused(
    ws: Any, open_raw: Any, chat_world: World
) -> None:
    socket = await open_raw(
        "/ws/", headers=headers(cookie="sessionid=forged", origin=ALLOWED_ORIGIN)
    )
    await ws.assert_closed_4401(socket)


async def test_a_refused_socket_writes_nothing_and_gets_no_frames(
    ws: Any, open_raw: Any, chat_world: World, conversation: Any
) -> None:
    socket = await open_raw("/ws/?ticket=bogus")
    await ws.assert_closed_4401(socket)
    await socket.send_json_to(
        {"type": "send", "conversation": str(conversation.id), "client_id": "x", "body": "hi"}
    )
    assert await socket.receive_nothing(timeout=0.3)
    assert await ws.message_count() == 0


async def test_a_refused_socket_costs_no_channel_layer_channel(
    ws: Any, open_raw: Any, chat_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unauthenticated sockets must not hold layer resources (on Redis: a connection each).
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    made: list[str] = []
    original = layer.new_channel

    async def new_channel(*args: Any, **kwargs: Any) -> str:
        name = await original(*args, **kwargs)
        made.append(name)
        return name

    monkeypatch.setattr(layer, "new_channel", new_channel)
    await ws.assert_closed_4401(await open_raw("/ws/?ticket=bogus"))
    assert made == []
    ticket = await database_sync_to_async(issue_ws_ticket)(user=chat_world.peer)
    await ws.assert_open(await open_raw(f"/ws/?ticket={ticket}"))
    assert len(made) == 1
