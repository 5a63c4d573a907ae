"""Doorbells over the channel layer. Sent after commit; losing one loses nothing, since every
client recovers by `sync` from the database. Events carry ids and the message payload for the
group's members, never phone numbers."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from peerlink.batching import Collector

logger = logging.getLogger(__name__)


def conversation_group(conversation_id: uuid.UUID | str) -> str:
    return f"conv.{uuid.UUID(str(conversation_id)).hex}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def batched() -> contextlib.AbstractContextManager[None]:
    """Doorbells rung inside are sent together on leaving, in one trip into the event loop
    (each `async_to_sync` starts one, and opens a Redis connection): the dispatcher rings for
    a whole batch of texts this way. Nested use joins the outer batch."""
    return _doorbells.batch()


def _send_all(events: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send() -> None:
        for group, event in events:
            try:
                await layer.group_send(group, event)
            except Exception as exc:
                # The record is committed; clients recover by sync. The kind of failure only.
                logger.warning("channel layer send failed: %s group=%s", type(exc).__name__, group)

    try:
        async_to_sync(send)()
    except Exception as exc:
        logger.warning("channel layer send failed: %s", type(exc).__name__)


_doorbells: Collector[tuple[str, dict[str, Any]]] = Collector(_send_all)


def _group_send(group: str, event: dict[str, Any]) -> None:
    if not _doorbells.add((group, event)):
        _send_all([(group, event)])


def message_posted(conversation_id: uuid.UUID, payload: dict[str, Any]) -> None:
    _group_send(conversation_group(conversation_id), {"type": "chat.message", "message": payload})


def read_moved(conversation_id: uuid.UUID, seq: int, by: int) -> None:
    _group_send(
        conversation_group(conversation_id),
        {"type": "chat.read", "conversation": str(conversation_id), "seq": seq, "by": by},
    )


def caseload_changed(user_ids: Iterable[int]) -> None:
    for user_id in set(user_ids):
        _group_send(user_group(user_id), {"type": "caseload.changed"})


def alert_changed(user_ids: Iterable[int], alert: dict[str, Any]) -> None:
    """Ring each recipient's sockets with an `alert` frame: opened, joined by another signal,
    escalated, acknowledged, resolved. The alert carries ids and codes only; a socket fetches
    the details over the API, where each read is authorised and audited. Recipients are
    chosen by the caller (messaging/risk/selectors.py: on-duty staff only)."""
    for user_id in set(user_ids):
        _group_send(user_group(user_id), {"type": "alert.changed", "alert": alert})


def delivery_changed(
    conversation_id: uuid.UUID, message_id: uuid.UUID, seq: int, status: str
) -> None:
    """Where a message's SMS stands (queued, sent, delivered, ...). Staff sockets show it."""
    _group_send(
        conversation_group(conversation_id),
        {
            "type": "chat.delivery",
            "conversation": str(conversation_id),
            "message": str(message_id),
            "seq": seq,
            "status": status,
        },
    )
