"""The WebSocket consumer at /ws/, speaking the frames of DESIGN.md §4.

Thin: it parses and checks frames, then calls services and selectors. A frame that is wrong
in any way gets an `error` frame with a code, writes nothing, and leaves the socket open.

For client authors:

- Every frame gets exactly one answer: `send` an `ack` (or `error`), `sync` its `message`
  frames and then `synced` {conversation, last_seq}, `read` a `read` frame with where the
  marker now stands, `ping` a `pong`. Errors carry the frame's `client_id` when it had one.
- A peer supporter's `send` with contact details gets a `warning` {code: "contact_details",
  kinds, client_id, detail} instead of an `ack`, and nothing is stored; the same frame with
  `"confirm": true` sends it (docs/websocket.md, "Contact details").
- The socket is open only once it follows its conversations; an `ack` means committed.
- Live `message` frames are a doorbell and may be lost (the channel layer drops under load).
  Messages have a per-conversation `seq` without gaps, from 1. Keep, per conversation, the
  highest seq below which you have seen every message; `sync` from it when the socket opens
  (and after every reconnect) and whenever a `message` arrives whose seq is more than one
  above it. Apply messages by id (idempotent): a sync may repeat what you already have.
- Unacknowledged sends are resent with the same `client_id`; the server stores one message
  and acknowledges the resend with it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from audit.services import record
from messaging import selectors, services
from messaging.events import conversation_group, user_group
from messaging.metrics import WebsocketCount
from messaging.models import MessageChannel
from messaging.risk.selectors import unresolved_alerts_for_socket
from messaging.ws_auth import CLOSE_UNAUTHENTICATED, refuse, signed_in
from peerlink.errors import DomainError
from people.models import User

# Room for the longest legal `send`: a 4,000-character body in which every character is an
# escaped surrogate pair ("\ud83d\ude00", 12 characters each), plus an escaped client id.
MAX_FRAME_CHARS = 65_536
# Sequence numbers are stored as 64-bit integers; anything larger is not a sequence number.
MAX_SEQ = 2**63 - 1


class FrameError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class FrameBudget:
    """A token bucket per socket. Hand-written: a dozen lines, in memory, per connection;
    the rate-limit libraries we use elsewhere key on a shared cache, which this does not need."""

    def __init__(self, *, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _conversation_id(frame: dict[str, Any]) -> str:
    value = frame.get("conversation")
    if not isinstance(value, str):
        raise FrameError("invalid_frame", "conversation must be a conversation id (string).")
    return value


def _whole_number(frame: dict[str, Any], name: str) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise FrameError("invalid_frame", f"{name} must be a whole number, 0 or more.")
    return value


def _is_unicode_text(frame: dict[str, Any]) -> bool:
    """JSON escapes can spell lone surrogates ("\\ud83d"), which are no text at all: they
    cannot be encrypted, stored or sent on."""
    try:
        json.dumps(frame, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_found() -> FrameError:
    # A fresh exception each time: re-raising one shared instance grows its traceback on
    # every raise and keeps every frame's locals (users, message bodies) alive for good.
    return FrameError("not_found", "No such conversation.")


def _read_only() -> FrameError:
    return FrameError("read_only", "You may read this conversation but not write in it.")


def _confirm(frame: dict[str, Any]) -> bool:
    """`confirm: true` sends a message that was held with a `warning` (contact details)."""
    value = frame.get("confirm", False)
    if not isinstance(value, bool):
        raise FrameError("invalid_frame", "confirm must be true or false.")
    return value


def _post_sync(
    user: User, conversation_id: str, client_id: str, body: str, confirm: bool = False
) -> dict[str, Any]:
    try:
        pk = uuid.UUID(conversation_id)
    except ValueError:
        raise _not_found() from None
    try:
        return services.post_as_member(
            conversation_id=pk,
            user=user,
            channel=MessageChannel.WEB,
            body=body,
            client_id=client_id,
            confirm_contact_details=confirm,
        ).payload
    except services.NotAMember:
        # The rare path: tell "may read but not write" from "no such conversation".
        if selectors.readable_conversation(user, conversation_id) is None:
            raise _not_found() from None
        raise _read_only() from None


# Posts run on the shared thread pool, not Channels' single database thread: each post is
# one short transaction on its own connection, and serialising every socket's posts (and
# every delivery hop) through one thread was the chat path's bottleneck (docs/performance.md).
_post = database_sync_to_async(_post_sync, thread_sensitive=False)


@database_sync_to_async
def _sync(user: User, conversation_id: str, after_seq: int) -> tuple[list[dict[str, Any]], int]:
    conversation = selectors.readable_conversation(user, conversation_id)
    if conversation is None:
        raise _not_found()
    if not selectors.may_post(user, conversation):
        # A supervisor reviewing a conversation: every such read is audited.
        record(
            action="conversation.read",
            actor=user,
            target=conversation,
            details={"after_seq": after_seq, "via": "websocket"},
        )
    pages: list[dict[str, Any]] = []
    cursor = after_seq
    while True:
        page = selectors.messages_after(conversation, after_seq=cursor)
        pages.extend(page)
        if len(page) < selectors.SYNC_PAGE_SIZE:
            break
        cursor = page[-1]["seq"]
    return pages, pages[-1]["seq"] if pages else max(after_seq, 0)


@database_sync_to_async
def _read(user: User, conversation_id: str, seq: int) -> int:
    """Move the user's read marker; returns where it stands. Read markers are for members:
    a supervisor's review is audited by `sync`, and must not show up as a read receipt."""
    conversation = selectors.readable_conversation(user, conversation_id)
    if conversation is None:
        raise _not_found()
    if not selectors.may_post(user, conversation):
        raise _read_only()
    return services.mark_read(conversation=conversation, user=user, seq=seq)


@database_sync_to_async
def _subscriptions(user: User) -> tuple[set[uuid.UUID], bool]:
    """What the socket follows, and whether it is a staff member's (the person's own socket
    gets no `delivery` frames). `is_participant` is cached on the user after the first call."""
    return selectors.postable_conversation_ids(user), not user.is_participant


@database_sync_to_async
def _unresolved_alerts(user: User) -> list[dict[str, Any]]:
    return unresolved_alerts_for_socket(user)


class ChatConsumer(AsyncWebsocketConsumer):
    user: User
    conversations: set[uuid.UUID]
    # Staff sockets also get `delivery` frames: where each SMS to the person stands.
    is_staff: bool
    budget: FrameBudget
    # Where this socket last told its client its own read marker stands, per conversation:
    # the group's echo of the same move is not sent twice.
    own_reads: dict[str, int]
    # This socket's share of peerlink_websocket_connections.
    open_sockets: WebsocketCount

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_sockets = WebsocketCount()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not signed_in(scope):
            # Refused before Channels makes a channel-layer channel for the socket: a socket
            # that is not signed in costs no layer resources (on Redis: a connection and a
            # blocking pop), however many of them a client opens.
            await refuse(receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer ends without a disconnect (an error, a cancelled task at
            # shutdown): the gauge must not keep a socket that is gone.
            self.open_sockets.closed()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:  # never reached: see __call__
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.is_staff = False  # set with the subscriptions, before the socket is accepted
        self.conversations = set()
        self.own_reads = {}
        self.budget = FrameBudget(
            per_second=settings.WS_FRAMES_PER_SECOND, burst=settings.WS_FRAME_BURST
        )
        # Subscribe before accepting: once the client sees the socket open, every message
        # posted from then on is delivered live (the user group first, so that a caseload
        # change racing with the subscription query is not missed either).
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self._refresh_subscriptions()
        await self.accept()
        self.open_sockets.opened()
        if self.is_staff:
            # Alerts are in the database whatever happened to their doorbells (Redis down,
            # socket closed): every (re)connect brings the unresolved ones.
            for alert in await _unresolved_alerts(self.user):
                await self.send_json({"type": "alert", "alert": alert})

    async def disconnect(self, code: int) -> None:
        self.open_sockets.closed()
        if not hasattr(self, "user"):
            return
        for conversation_id in self.conversations:
            await self.channel_layer.group_discard(
                conversation_group(conversation_id), self.channel_name
            )
        await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)

    async def _refresh_subscriptions(self) -> None:
        conversations, self.is_staff = await _subscriptions(self.user)
        for added in conversations - self.conversations:
            await self.channel_layer.group_add(conversation_group(added), self.channel_name)
        for removed in self.conversations - conversations:
            await self.channel_layer.group_discard(conversation_group(removed), self.channel_name)
        self.conversations = conversations

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))

    async def send_error(self, code: str, detail: str, client_id: object = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if isinstance(client_id, str):
            frame["client_id"] = client_id
        await self.send_json(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "user"):
            return
        if not self.budget.take():
            await self.send_error("rate_limited", "Too many frames; slow down.")
            return
        if text_data is None:
            await self.send_error("invalid_frame", "Frames are JSON text.")
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self.send_error(
                "frame_too_large", f"A frame holds at most {MAX_FRAME_CHARS} characters."
            )
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.send_error("invalid_frame", "A frame is a JSON object with a type.")
            return
        if not _is_unicode_text(frame):
            await self.send_error("invalid_frame", "Frames hold Unicode text only.")
            return
        frame_type = frame.get("type")
        handler = self.handlers.get(frame_type) if isinstance(frame_type, str) else None
        if handler is None:
            await self.send_error("unknown_type", "Frame types: send, sync, read, ping.")
            return
        try:
            await handler(self, frame)
        except FrameError as exc:
            await self.send_error(exc.code, exc.detail, frame.get("client_id"))
        except DomainError as exc:
            await self.send_error(exc.code, exc.message, frame.get("client_id"))

    async def on_send(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        body = frame.get("body")
        conversation_id = _conversation_id(frame)
        services.validate_client_id(client_id)
        services.validate_body(body)
        confirm = _confirm(frame)
        assert isinstance(client_id, str) and isinstance(body, str)
        # Acknowledged only after commit: _post returns once the transaction is committed.
        try:
            payload = await _post(self.user, conversation_id, client_id, body, confirm)
        except services.HeldForBoundaries as held:
            # Nothing was stored: the client shows the warning and resends with confirm.
            await self.send_json(
                {
                    "type": "warning",
                    "code": held.code,
                    "kinds": held.kinds,
                    "client_id": client_id,
                    "detail": held.message,
                }
            )
            return
        await self.send_json({"type": "ack", "client_id": client_id, "message": payload})

    async def on_sync(self, frame: dict[str, Any]) -> None:
        conversation_id = _conversation_id(frame)
        after_seq = _whole_number(frame, "after_seq")
        messages, last_seq = await _sync(self.user, conversation_id, after_seq)
        for message in messages:
            await self.send_json({"type": "message", "message": message})
        await self.send_json(
            {"type": "synced", "conversation": conversation_id, "last_seq": last_seq}
        )

    async def on_read(self, frame: dict[str, Any]) -> None:
        conversation_id = _conversation_id(frame)
        position = await _read(self.user, conversation_id, _whole_number(frame, "seq"))
        # Answer with where the marker stands (it never moves back); the user's other sockets
        # and the other members hear of a move through the conversation's group.
        key = str(uuid.UUID(conversation_id))
        self.own_reads[key] = max(position, self.own_reads.get(key, 0))
        await self.send_json(
            {"type": "read", "conversation": key, "seq": position, "by": self.user.pk}
        )

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    handlers: dict[str, Callable[[ChatConsumer, dict[str, Any]], Awaitable[None]]] = {
        "send": on_send,
        "sync": on_sync,
        "read": on_read,
        "ping": on_ping,
    }

    # Channel-layer events (doorbells).

    async def chat_message(self, event: dict[str, Any]) -> None:
        message = event["message"]
        if uuid.UUID(message["conversation"]) in self.conversations:
            await self.send_json({"type": "message", "message": message})

    async def chat_read(self, event: dict[str, Any]) -> None:
        if uuid.UUID(event["conversation"]) not in self.conversations:
            return
        if event["by"] == self.user.pk and event["seq"] <= self.own_reads.get(
            event["conversation"], -1
        ):
            return  # this socket made the move and has already answered it
        await self.send_json(
            {
                "type": "read",
                "conversation": event["conversation"],
                "seq": event["seq"],
                "by": event["by"],
            }
        )

    async def chat_delivery(self, event: dict[str, Any]) -> None:
        if not self.is_staff or uuid.UUID(event["conversation"]) not in self.conversations:
            return
        await self.send_json(
            {
                "type": "delivery",
                "conversation": event["conversation"],
                "message": event["message"],
                "seq": event["seq"],
                "status": event["status"],
            }
        )

    async def caseload_changed(self, event: dict[str, Any]) -> None:
        await self._refresh_subscriptions()

    async def alert_changed(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "alert", "alert": event["alert"]})
