"""The inbound SMS benchmark's load generator: one asyncio process (uvloop when installed).

    python smsbench_load.py JOB.json    results as JSON on the last line of stdout

Runs with the bench server's environment (bench/sms_inbound.py), so that the webhooks are
built and signed by the project's own simulator (messaging/sms/simulate.py) exactly as
Twilio would send them, for PEERLINK_PUBLIC_URL + /sms/twilio/inbound/.

For each concurrency level, the bare view (`/bench/bare/`) first, then our endpoint
(`/sms/twilio/inbound/`), each a closed loop: that many HTTP/1.1 keep-alive connections, each
sending its next request as soon as its last was answered, for a warm-up and then a timed
window. Both paths get the same request bytes (form body and X-Twilio-Signature) except the
path. Every request of our path has its own MessageSid; senders rotate over the world's
service users. All requests are built and signed before a phase's clock starts (the pool for
our path is sized from the bare view's rate at the same level; should it run out, the rest
are signed inline and counted).

Counted: requests completed inside the window (req/s), their latency (send -> last byte of
the answer; p50/p95/p99), every answer that is not 200 (or a broken connection, status 0),
warm-up included, and the CPU time the server process and PostgreSQL (the postmaster and all
its backends, live or exited) used over the window, per request answered in it. Optionally
peer supporters' WebSockets are open through the run and count the live `message` frames
their conversations get.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform"), str(ROOT / "bench" / "chatbench")]

import django  # noqa: E402

django.setup()

from chatbench_load import percentile  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from messaging.sms import simulate  # noqa: E402

INBOUND = "/sms/twilio/inbound/"
BARE = "/bench/bare/"
BARE_POOL = 2000  # the bare view reads nothing: its requests may repeat


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU time (user + system) of a process; with `children`, also of its children, live
    (/proc) and exited (reaped: cutime + cstime): all of PostgreSQL, from the postmaster."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    total = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        total += int(fields[13]) + int(fields[14])  # cutime, cstime
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                child = stat.read_text().rpartition(")")[2].split()
                if int(child[1]) == pid:
                    total += int(child[11]) + int(child[12])
    return total / TICK


def cpu_now(job: dict[str, Any]) -> tuple[float, float]:
    return cpu_seconds(job["server_pid"]), cpu_seconds(job["postgres_pid"], children=True)


def note(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class HttpConnection:
    """Just enough HTTP/1.1 for a closed loop: one request at a time, keep-alive, answers with
    Content-Length or chunked. Cheaper than a general client, so that the generator (on the
    same two cores) takes as little as possible from the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> int:
        """The answer's status; 0 when the connection broke (it is reopened)."""
        try:
            if self.writer is None:
                await self.open()
            assert self.reader is not None and self.writer is not None
            self.writer.write(data)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                end = lower.index(b"\r\n", at + 2)
                await self.reader.readexactly(int(lower[at + 17 : end]))
            elif b"\r\ntransfer-encoding: chunked" in lower:
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            if b"\r\nconnection: close" in lower:
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            return 0


@dataclass
class Webhook:
    data: bytes  # the whole request for our path
    peer: int  # the sender's peer supporter


@dataclass
class Fanout:
    sockets: dict[int, ClientConnection] = field(default_factory=dict)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    received: Counter[int] = field(default_factory=Counter)  # message frames, per peer
    ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    expected: Counter[int] = field(default_factory=Counter)  # accepted webhooks, per peer

    async def open(self, ws_url: str, tickets: dict[str, str]) -> None:
        for peer, ticket in tickets.items():
            self.sockets[int(peer)] = await connect(f"{ws_url}?ticket={ticket}", max_queue=None)
        self.readers = [
            asyncio.create_task(self._read(peer, socket)) for peer, socket in self.sockets.items()
        ]

    async def _read(self, peer: int, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("type") != "message":
                    continue
                message_id = frame["message"]["id"]
                if message_id in self.ids:
                    self.duplicates += 1
                self.ids.add(message_id)
                self.received[peer] += 1

    def missing(self) -> int:
        return sum(max(0, n - self.received[p]) for p, n in self.expected.items())

    async def settle(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while self.missing() and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sockets.values()), return_exceptions=True)
        for reader in self.readers:
            reader.cancel()


class Load:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        world = json.loads(Path(job["world"]).read_text())
        self.people: list[dict[str, Any]] = world["participants"]
        self.token: str = job["token"]
        self.url = job["public_url"].rstrip("/") + INBOUND
        self.head = (
            f"Host: {job['host']}:{job['port']}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
        )
        self.number = 0  # webhooks built so far: the sender and the body's number
        self.signed_inline = 0
        self.sent_ours = 0
        self.accepted_ours = 0
        self.fanout = Fanout()

    def _webhook(self, path: str = INBOUND) -> Webhook:
        person = self.people[self.number % len(self.people)]
        params = simulate.inbound_params(
            sender=person["phone"], body=f"bench {self.number}: ok today, thanks"
        )
        self.number += 1
        signed = simulate.signed_request(self.url, params, token=self.token)
        head = (
            f"POST {path} HTTP/1.1\r\n{self.head}X-Twilio-Signature: {signed.signature}\r\n"
            f"Content-Length: {len(signed.body)}\r\n\r\n"
        )
        return Webhook(head.encode() + signed.body, person["peer"])

    def pool(self, count: int, path: str = INBOUND) -> list[Webhook]:
        return [self._webhook(path) for _ in range(count)]

    async def phase(
        self, path: str, concurrency: int, warm: float, seconds: float, pool: list[Webhook]
    ) -> dict[str, Any]:
        host, port = self.job["host"], self.job["port"]
        connections = [HttpConnection(host, port) for _ in range(concurrency)]
        await asyncio.gather(*(c.open() for c in connections))
        records: list[tuple[float, float, int]] = []
        ours = path == "ours"
        cursor = 0

        def take() -> Webhook:
            nonlocal cursor
            if ours and cursor >= len(pool):
                self.signed_inline += 1
                return self._webhook()
            webhook = pool[cursor % len(pool)]
            cursor += 1
            return webhook

        start = time.perf_counter()
        window = start + warm
        deadline = window + seconds
        clock = time.perf_counter

        cpu: list[tuple[float, float]] = []

        async def meter() -> None:
            """Server and PostgreSQL CPU time over the timed window."""
            await asyncio.sleep(max(0.0, window - clock()))
            cpu.append(cpu_now(self.job))
            await asyncio.sleep(max(0.0, deadline - clock()))
            cpu.append(cpu_now(self.job))

        async def slot(connection: HttpConnection) -> None:
            while clock() < deadline:
                webhook = take()
                sent = clock()
                status = await connection.request(webhook.data)
                records.append((sent, clock(), status))
                if ours:
                    self.sent_ours += 1
                    if status == 200:
                        self.accepted_ours += 1
                        if webhook.peer in self.fanout.sockets:
                            self.fanout.expected[webhook.peer] += 1

        await asyncio.gather(meter(), *(slot(c) for c in connections))
        for connection in connections:
            connection.close()
        timed = [r for r in records if window <= r[1] <= deadline]
        latencies = [(end - sent) * 1000 for sent, end, _ in timed]
        errors = Counter(str(status) for _, _, status in records if status != 200)
        return {
            "path": path,
            "concurrency": concurrency,
            "requests": len(records),
            "timed": len(timed),
            "rps": len(timed) / seconds,
            # CPU milliseconds per request answered in the window
            "server_cpu": (cpu[1][0] - cpu[0][0]) * 1000 / max(len(timed), 1),
            "postgres_cpu": (cpu[1][1] - cpu[0][1]) * 1000 / max(len(timed), 1),
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "errors": dict(errors),
            "timed_errors": sum(1 for r in timed if r[2] != 200),
        }


async def run(job: dict[str, Any]) -> dict[str, Any]:
    load = Load(job)
    if job["tickets"]:
        await load.fanout.open(job["ws_url"], job["tickets"])
        note(f"{len(load.fanout.sockets)} peer supporter sockets open")
    warm, seconds = job["warm_seconds"], job["seconds"]
    bare_pool = load.pool(BARE_POOL, BARE)
    phases = []
    try:
        for concurrency in job["levels"]:
            rate = 1000.0  # a guess, for a run of our path alone
            if "bare" in job["paths"]:
                bare = await load.phase("bare", concurrency, warm, seconds, bare_pool)
                note(f"c={concurrency} bare {bare['rps']:.0f} req/s")
                phases.append(bare)
                rate = max(bare["rps"], 100)
            if "ours" in job["paths"]:
                # Enough for 1.5 x the bare view's rate, built before the clock starts.
                pool = load.pool(math.ceil(rate * 1.5 * (warm + seconds)) + concurrency)
                ours = await load.phase("ours", concurrency, warm, seconds, pool)
                note(f"c={concurrency} ours {ours['rps']:.0f} req/s")
                phases.append(ours)
        await load.fanout.settle(job["settle_seconds"])
    finally:
        await load.fanout.close()
    fanout = load.fanout
    return {
        "phases": phases,
        "sent_ours": load.sent_ours,
        "accepted_ours": load.accepted_ours,
        "signed_inline": load.signed_inline,
        "fanout": {
            "sockets": len(fanout.sockets),
            "expected": sum(fanout.expected.values()),
            "received": sum(fanout.received.values()),
            "missing": fanout.missing(),
            "duplicates": fanout.duplicates,
        },
    }


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(run(job))))


if __name__ == "__main__":
    main()
