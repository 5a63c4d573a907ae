"""A bare Channels relay: the baseline of the chat benchmark (bench/chat.py, DESIGN.md §7).

It does what the chat consumer does minus everything that makes it ours: no authentication,
no database, no encryption, no validation beyond parsing JSON. A socket joins the group named
by `?group=`; a `send` frame goes to the group as a `message` frame and the sender gets an
`ack`. Served at /ws/bench-relay/ only when PEERLINK_BENCH_RELAY is on, which production
refuses (peerlink/routing.py).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

GROUP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BenchRelayConsumer(AsyncWebsocketConsumer):
    group = ""

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        name = (query.get("group") or [""])[0]
        if not GROUP_NAME.match(name):
            await self.close(code=4400)
            return
        self.group = f"benchrelay.{name}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        if frame.get("type") == "ping":
            await self.send(text_data='{"type":"pong"}')
            return
        if frame.get("type") != "send":
            return
        # The same shape as a chat message object, without anything a database would give.
        message = {
            "id": str(uuid.uuid4()),
            "conversation": self.group,
            "seq": 0,
            "sender": {"id": None, "role": "bench", "display_name": "bench"},
            "channel": "web",
            "body": frame.get("body"),
            "created_at": datetime.now(UTC).isoformat(),
        }
        event = {"type": "relay.message", "message": message}
        await self.channel_layer.group_send(self.group, event)
        ack = {"type": "ack", "client_id": frame.get("client_id"), "message": message}
        await self.send(text_data=json.dumps(ack, separators=(",", ":")))

    async def relay_message(self, event: dict[str, Any]) -> None:
        frame = {"type": "message", "message": event["message"]}
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))
