"""WebSocket authentication (DESIGN.md §4): the Django session cookie, accepted only from an
allowed Origin (a page on another site must not ride the cookie), or a single-use `?ticket=`
from `POST /api/v1/ws-ticket/` for clients that cannot send the cookie."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from access.services import consume_ws_ticket

CLOSE_UNAUTHENTICATED = 4401


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def origin_allowed(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    parsed = urlparse(origin)
    if parsed.scheme not in settings.WS_ALLOWED_ORIGIN_SCHEMES or parsed.hostname is None:
        return False
    return validate_host(parsed.hostname, settings.ALLOWED_HOSTS)


class TicketOrOriginCheckedSession(BaseMiddleware):
    """Runs after the session and auth middleware have put the cookie's user in the scope."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tickets = query.get("ticket")
        scope = dict(scope)
        if tickets:
            user = await database_sync_to_async(consume_ws_ticket)(ticket=tickets[0])
            # A user deactivated since the ticket was issued is refused, as the session
            # backend refuses them.
            active = user is not None and user.is_active
            scope["user"] = user if active else AnonymousUser()
            scope["auth_method"] = "ticket"
        elif not origin_allowed(scope):
            scope["user"] = AnonymousUser()
            scope["auth_method"] = "none"
        else:
            scope["auth_method"] = "session"
        return await super().__call__(scope, receive, send)


def signed_in(scope: dict[str, Any]) -> bool:
    user = scope.get("user")
    return user is not None and bool(user.is_authenticated)


async def refuse(receive: Any, send: Any) -> None:
    """Speak just enough ASGI to close with 4401: the handshake is accepted first, since a
    close code reaches the client only on an accepted socket; then wait for the client to go."""
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED})
        elif message["type"] == "websocket.disconnect":
            return


def websocket_auth(inner: Any) -> Any:
    return AuthMiddlewareStack(TicketOrOriginCheckedSession(inner))
