"""The chat benchmark's load generator: one asyncio process with every socket (DESIGN.md §7).

Reads a job (JSON file named by argv[1]) from bench/chat.py, prints the results as JSON.

Sockets come in pairs, one pair per conversation (the peer supporter's and the service user's
on our path; two members of one relay group on the baseline). Each message is sent by one
socket of a pair and counts as delivered when the *other* socket receives its `message`
frame; its number travels in the body, so that both paths are measured the same way.

Phases, in order, each measured on its own:
- capacity: closed loop, a fixed number of messages in flight, sent from every socket in turn
  (a slot's next message goes when its last was both acked and delivered to the other
  party). The first seconds warm up
  (connections, caches) and are not counted; then messages delivered per second over a fixed
  window: the most the server sustains end to end.
- rate: a fixed number of sends at the target rate, open loop (sends follow the clock, not
  the replies). Latency runs from the moment a send was *due*, so a server (or generator) that
  falls behind is charged for the wait (no coordinated omission). A message not delivered
  within the drain time counts as lost (infinitely late).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

FILLER = " I had a rough night but I went for a walk this morning and it helped a bit." * 2


@dataclass
class Phase:
    name: str
    first: int  # message numbers [first, first + count) belong to this phase
    count: int = 0
    started: float = 0.0
    due: dict[int, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    delivered: dict[int, float] = field(default_factory=dict)


class Load:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.pairs: list[dict[str, str]] = job["pairs"]
        self.sockets: list[ClientConnection] = []
        self.conversation: list[str] = []
        self.sender: dict[int, int] = {}
        self.next_number = 0
        self.phase: Phase | None = None
        self.phases: list[Phase] = []
        self.ack_waiters: dict[int, asyncio.Future[None]] = {}
        self.pongs: dict[int, asyncio.Future[None]] = {}
        self.errors: dict[str, int] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.run_id = secrets.token_hex(4)

    # Connections

    def _url(self, pair: dict[str, str], member: str) -> str:
        base = self.job["url"]
        if self.job["path"] == "relay":
            return f"{base}?group={pair['conversation'].replace('-', '')}&member={member}"
        return f"{base}?ticket={pair[member]}"

    async def connect_all(self) -> float:
        start = time.perf_counter()
        urls = []
        for pair in self.pairs:
            for member in ("peer", "participant"):
                urls.append(self._url(pair, member))
                self.conversation.append(pair["conversation"])
        self.sockets = [None] * len(urls)  # type: ignore[list-item]
        gate = asyncio.Semaphore(25)

        async def one(index: int, url: str) -> None:
            async with gate:
                self.sockets[index] = await connect(
                    url, open_timeout=60, close_timeout=5, max_queue=None, compression=None
                )

        await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
        loop = asyncio.get_running_loop()
        self.readers = [loop.create_task(self._read(i)) for i in range(len(self.sockets))]
        # A pong means the consumer's connect() (subscriptions) has finished.
        for index, socket in enumerate(self.sockets):
            self.pongs[index] = loop.create_future()
            await socket.send('{"type":"ping"}')
        await asyncio.wait_for(asyncio.gather(*self.pongs.values()), 60)
        return time.perf_counter() - start

    async def _read(self, index: int) -> None:
        socket = self.sockets[index]
        with contextlib.suppress(Exception):
            async for raw in socket:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    body = frame["message"]["body"]
                    number = int(body.split(" ", 2)[1])
                    if self.sender.get(number, index) != index and self.phase is not None:
                        self._phase_of(number).delivered.setdefault(number, now)
                        self._settle(number)
                elif kind == "ack":
                    number = int(frame["client_id"].rpartition("-")[2])
                    self._phase_of(number).acked.setdefault(number, now)
                    self._settle(number)
                elif kind == "pong":
                    waiter = self.pongs.get(index)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                elif kind == "error":
                    code = str(frame.get("code"))
                    self.errors[code] = self.errors.get(code, 0) + 1
                    client_id = frame.get("client_id")
                    number_text = str(client_id).rpartition("-")[2]
                    if isinstance(client_id, str) and number_text.isdigit():
                        waiter = self.ack_waiters.pop(int(number_text), None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(None)

    def _settle(self, number: int) -> None:
        """A closed-loop sender goes on once its message is both acked and delivered."""
        phase = self._phase_of(number)
        if number in phase.acked and number in phase.delivered:
            waiter = self.ack_waiters.pop(number, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _phase_of(self, number: int) -> Phase:
        for phase in reversed(self.phases):
            if number >= phase.first:
                return phase
        raise LookupError(number)

    # Sending

    async def _send(self, index: int, due: float) -> int:
        number = self.next_number
        self.next_number += 1
        assert self.phase is not None
        self.sender[number] = index
        self.phase.due[number] = due
        self.phase.count += 1
        frame = {
            "type": "send",
            "conversation": self.conversation[index],
            # Unique across runs: a client id seen before gets its first message back and
            # no new delivery (idempotent send), which would stall the closed loop.
            "client_id": f"b{self.run_id}-{number}",
            "body": f"bench {number}{FILLER}",
        }
        try:
            await self.sockets[index].send(json.dumps(frame, separators=(",", ":")))
        except ConnectionClosed:
            self.errors["socket_closed"] = self.errors.get("socket_closed", 0) + 1
        return number

    def _begin(self, name: str) -> Phase:
        phase = Phase(name=name, first=self.next_number, started=time.perf_counter())
        self.phases.append(phase)
        self.phase = phase
        return phase

    def _order(self) -> list[int]:
        """Senders round-robin over conversations, peers first then service users, so that
        consecutive sends hit different conversations and both directions carry half."""
        pairs = len(self.pairs)
        return [2 * p for p in range(pairs)] + [2 * p + 1 for p in range(pairs)]

    async def open_loop(self, name: str, rate: float, count: int) -> Phase:
        phase = self._begin(name)
        order = self._order()
        start = time.perf_counter()
        # A server that stops reading makes sends block; give up (the rest count as lost)
        # rather than stretch the phase without bound.
        give_up = start + 2 * count / rate + 5
        sent = 0
        while sent < count and time.perf_counter() < give_up:
            now = time.perf_counter()
            while sent < count and start + sent / rate <= now:
                await self._send(order[sent % len(order)], start + sent / rate)
                sent += 1
            if sent < count:
                await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        return phase

    async def closed_loop(self, name: str, warm: float, seconds: float, in_flight: int) -> Phase:
        """`in_flight` messages at all times: each slot sends its next message (from the next
        socket in turn) once its last was acked and delivered."""
        phase = self._begin(name)
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        phase.started = start + warm  # the measured window starts after the warm-up
        deadline = start + warm + seconds
        order = self._order()

        async def slot(first: int) -> None:
            turn = first
            while time.perf_counter() < deadline:
                waiter: asyncio.Future[None] = loop.create_future()
                self.ack_waiters[self.next_number] = waiter
                await self._send(order[turn % len(order)], time.perf_counter())
                turn += in_flight
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, 60)

        await asyncio.gather(*(slot(i) for i in range(min(in_flight, len(order)))))
        return phase

    async def drain(self, phase: Phase, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if len(phase.delivered) >= phase.count and len(phase.acked) >= phase.count:
                return
            await asyncio.sleep(0.05)

    async def close_all(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)
        for reader in self.readers:
            reader.cancel()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(phase: Phase, *, window: float | None = None) -> dict[str, Any]:
    numbers = list(range(phase.first, phase.first + phase.count))
    if window is not None:
        # Closed loop: only messages sent inside the measured window count.
        end = phase.started + window
        numbers = [n for n in numbers if phase.started <= phase.due[n] <= end]
        throughput = sum(1 for t in phase.delivered.values() if phase.started <= t <= end) / window
    else:
        last = max(phase.acked.values(), default=phase.started)
        throughput = len(phase.acked) / max(last - phase.started, 1e-9)
    latencies = [
        (phase.delivered[n] - phase.due[n]) * 1000 if n in phase.delivered else math.inf
        for n in numbers
    ]
    ack_latencies = [
        (phase.acked[n] - phase.due[n]) * 1000 if n in phase.acked else math.inf for n in numbers
    ]
    return {
        "sent": len(numbers),
        "acked": sum(1 for n in numbers if n in phase.acked),
        "delivered": sum(1 for n in numbers if n in phase.delivered),
        "throughput": throughput,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "ack_p99": percentile(ack_latencies, 99),
    }


def note(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def run(job: dict[str, Any]) -> dict[str, Any]:
    load = Load(job)
    connect_seconds = await load.connect_all()
    note(f"connected {len(load.sockets)} sockets in {connect_seconds:.1f} s")
    results: dict[str, Any] = {"sockets": len(load.sockets), "connect_seconds": connect_seconds}
    try:
        capacity = await load.closed_loop(
            "capacity", job["warm_seconds"], job["capacity_seconds"], job["in_flight"]
        )
        note(f"capacity phase sent; {capacity.count} messages")
        await load.drain(capacity, job["drain_seconds"])
        note("capacity phase drained")
        results["capacity"] = summary(capacity, window=job["capacity_seconds"])
        rate = await load.open_loop("rate", job["rate"], int(job["rate"] * job["rate_seconds"]))
        note(f"rate phase sent {rate.count}")
        await load.drain(rate, job["drain_seconds"])
        note("rate phase drained")
        planned = int(job["rate"] * job["rate_seconds"])
        results["rate"] = {"offered": job["rate"], "planned": planned, **summary(rate)}
        results["errors"] = load.errors
    finally:
        await load.close_all()
        note("closed")
    return results


def main() -> None:
    with open(sys.argv[1]) as source:
        job = json.load(source)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    results = asyncio.run(run(job))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
