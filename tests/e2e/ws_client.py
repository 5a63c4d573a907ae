"""A WebSocket client for the end-to-end tests: a real socket (the `websockets` library) plus
everything it has received, so that waits never lose frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import AsgiServer

Frame = dict[str, Any]
WAIT = 10.0  # seconds: the bound on every wait below


class Client:
    """A socket plus everything it has received, so that waits never lose frames."""

    def __init__(self, name: str, socket: ClientConnection) -> None:
        self.name = name
        self.socket = socket
        self.frames: list[Frame] = []
        self.taken: set[int] = set()
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.socket:
                self.frames.append(json.loads(raw))
                self._arrived.set()

    async def send(self, frame: Frame) -> None:
        await self.socket.send(json.dumps(frame))

    async def wait_for(self, wanted: Callable[[Frame], bool], what: str) -> Frame:
        async def scan() -> Frame:
            while True:
                for index, frame in enumerate(self.frames):
                    if index not in self.taken and wanted(frame):
                        self.taken.add(index)
                        return frame
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(scan(), WAIT)
        except TimeoutError:
            detail = f"{self.name}: no {what} within {WAIT}s; got {self.frames}"
            raise AssertionError(detail) from None

    async def ping(self) -> None:
        """The connection is live: a ping is answered."""
        await self.send({"type": "ping"})
        await self.wait_for(lambda f: f["type"] == "pong", "pong")

    async def ack(self, client_id: str) -> Frame:
        frame = await self.wait_for(
            lambda f: f["type"] in ("ack", "error") and f.get("client_id") == client_id,
            f"ack for {client_id}",
        )
        assert frame["type"] == "ack", frame
        message: Frame = frame["message"]
        return message

    async def message(self, body: str) -> Frame:
        frame = await self.wait_for(
            lambda f: f["type"] == "message" and f["message"]["body"] == body,
            f"message {body!r}",
        )
        message: Frame = frame["message"]
        return message

    async def close(self) -> None:
        await self.socket.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._reader, WAIT)


async def open_client(server: AsgiServer, name: str, ticket: str) -> Client:
    url = f"{server.ws_url}?ticket={ticket}"
    socket = await connect(url, open_timeout=WAIT, close_timeout=WAIT)
    return Client(name, socket)


def send_frame(conversation: str, client_id: str, body: str) -> Frame:
    return {"type": "send", "conversation": conversation, "client_id": client_id, "body": body}
