"""Chat: send -> persisted, encrypted -> delivered to the other party's socket, over the real
ASGI server, against a bare Channels relay served by the same server in the same run.

    python bench/chat.py [--quick] [--servers uvicorn,daphne] [--paths relay,ours]
                         [--rate N] [--layer core|pubsub] [--pool-size N] [--profile DIR]

Starts PostgreSQL and Redis (tests/support/services.py), migrates a fresh database, writes
the world through the real services (one service user and one peer supporter per
conversation, both on the web), then for each ASGI server and path: starts a fresh server
process with the production settings (bench/chatbench/chatbench_settings.py: PostgreSQL,
RedisChannelLayer with encrypted payloads, Redis cache; plus the bench-only relay route) on an
empty Redis, and runs the load generator (bench/chatbench/chatbench_load.py, a separate
process) against /ws/bench-relay/, then /ws/. Prints throughput and send->deliver latency
for both, the ratio, and the DESIGN.md §7 goals. Everything it starts is stopped on exit,
error, Ctrl-C or SIGTERM. Method and figures: docs/performance.md.
PEERLINK_BENCH_VERBOSE=1 shows the load generator's progress.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "bench" / "chatbench"
sys.path[:0] = [str(ROOT)]

import psycopg  # noqa: E402
from redis import Redis  # noqa: E402

from tests.support import services  # noqa: E402

PY = sys.executable
LAYERS = {
    "core": "RedisChannelLayer (as production)",
    "pubsub": "RedisPubSubChannelLayer (comparison)",
}
GOAL_RATE = 1000  # msg/s, DESIGN.md §7
GOAL_P99_MS = 50
GOAL_RELAY_SHARE = 0.5


STARTED = time.monotonic()
VERBOSE = os.environ.get("PEERLINK_BENCH_VERBOSE") == "1"  # the load generator's progress


def log(text: str) -> None:
    print(f"[chat {time.monotonic() - STARTED:5.0f}s] {text}", file=sys.stderr, flush=True)


def stop_process(process: subprocess.Popen[Any], grace: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def b64key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def server_env(
    database_url: str, redis_url: str, pool_size: str | None, layer: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PEERLINK_", "DJANGO_", "TWILIO_", "CHANNEL_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SMS_BACKEND"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbench_settings",
            "PYTHONPATH": os.pathsep.join([str(HELPERS), str(ROOT), str(ROOT / "platform")]),
            # PEERLINK_ENV stays unset: DJANGO_SETTINGS_MODULE names the settings, which
            # call themselves "bench" (peerlink/routing.py refuses the relay in production).
            "PEERLINK_BENCH_RELAY": "1",
            # What production reads (README, Configuration), with throwaway values.
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "PEERLINK_PUBLIC_URL": "http://127.0.0.1",
            "PEERLINK_KEYRING": f"1:{b64key()}",
            "PEERLINK_INDEX_KEY": b64key(),
            "CHANNEL_LAYER_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "SMS_BACKEND": "messaging.sms.TwilioSmsBackend",
            "TWILIO_HTTP_CLIENT": "tests.support.fake_twilio.FakeTwilioHttpClient",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": secrets.token_urlsafe(24),
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
            # One socket here carries a whole conversation's share of the load.
            "PEERLINK_WS_FRAMES_PER_SECOND": "1000",
            "PEERLINK_WS_FRAME_BURST": "1000",
            "LOG_LEVEL": "WARNING",
        }
    )
    if pool_size is not None:
        env["DATABASE_POOL_MAX_SIZE"] = pool_size
    if layer != "core":
        env["PEERLINK_BENCH_LAYER"] = layer
    return env


def run_checked(args: list[Any], env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args[:3]))} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def server_command(server: str, port: int, app: str) -> list[str]:
    if server == "uvicorn":
        # As deploy/Procfile runs it.
        return [
            PY,
            "-m",
            "uvicorn",
            app,
            "--app-dir",
            "platform",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    if server == "daphne":
        return [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    raise ValueError(server)


@contextlib.contextmanager
def asgi_server(
    server: str, env: dict[str, str], folder: Path, app: str
) -> Iterator[tuple[int, int]]:
    port = services.free_port()
    log_path = folder / f"{server}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            server_command(server, port, app),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            services._wait_for_port(port, timeout=60, process=process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log_path.read_text(errors='replace')[-3000:]}") from None
        yield port, process.pid
    finally:
        # A server with a backlog may take long to shut down gracefully; its work is done.
        stop_process(process, grace=3)


@contextlib.contextmanager
def profiler(pid: int, out: Path | None, sampling: list[str] | None = None) -> Iterator[None]:
    """py-spy on the server while the load runs (measurement only; not a project dependency).
    `sampling`: py-spy's sampling flags (default: every thread at 200 Hz, waits included)."""
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if out is None or not Path(spy).exists():
        if out is not None:
            log("py-spy not found (pip install py-spy): no profile")
        yield
        return
    if sampling is None:
        sampling = ["-r", "200", "--threads"]
        if os.environ.get("PEERLINK_BENCH_SPY_IDLE", "1") == "1":
            sampling.append("--idle")  # waits count too: where a thread waits on PostgreSQL/Redis
    command = [spy, "record", "-p", str(pid), *sampling, "-f", "raw"]
    process = subprocess.Popen(
        [*command, "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_load(job: dict[str, Any], folder: Path, timeout: float, server_log: Path) -> dict[str, Any]:
    job_file = folder / f"job-{secrets.token_hex(4)}.json"
    job_file.write_text(json.dumps(job))
    process = subprocess.Popen(
        [PY, str(HELPERS / "chatbench_load.py"), str(job_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None if VERBOSE else subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        stop_process(process)
        job_file.unlink(missing_ok=True)
    if process.returncode != 0:
        raise RuntimeError(
            f"load generator failed:\n{(stderr or '')[-3000:]}\nserver log:\n"
            + server_log.read_text(errors="replace")[-5000:]
        )
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def ms(value: float) -> str:
    return "lost" if math.isinf(value) else f"{value:.1f}"


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def print_report(options: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    print(f"machine: {machine()}")
    print(
        f"{options.sockets} sockets in {options.conversations} conversations; rate phase "
        f"{options.rate:,} msg/s offered for {options.rate_seconds:g} s (open loop); capacity "
        f"phase {options.capacity_seconds:g} s (after {options.warm_seconds:g} s warm-up), closed "
        f"loop with {options.in_flight} messages in flight; latency = due -> delivered to the "
        "other party"
    )
    print(
        f"channel layer: {LAYERS[options.layer]}; "
        f"DATABASE_POOL_MAX_SIZE: {options.pool_size or 'unset (production: 20 per process)'}"
    )
    header = (
        f"{'server':<9}{'path':<7}{'offered':>9}{'acked/s':>9}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'p99 ms':>8}{'lost':>6}{'capacity/s':>12}{'cap p99 ms':>12}"
    )
    print(header)
    print("-" * len(header))
    for key, result in results.items():
        server, path = key.split("/")
        rate, capacity = result["rate"], result["capacity"]
        lost = rate.get("planned", rate["sent"]) - rate["delivered"]
        print(
            f"{server:<9}{path:<7}{rate['offered']:>9,}{rate['throughput']:>9,.0f}"
            f"{ms(rate['p50']):>8}{ms(rate['p95']):>8}{ms(rate['p99']):>8}"
            f"{lost:>6}{capacity['throughput']:>12,.0f}"
            f"{ms(capacity['p99']):>12}"
        )
    for server in options.servers:
        ours, relay = results.get(f"{server}/ours"), results.get(f"{server}/relay")
        if not ours or not relay:
            continue
        ratio = ours["capacity"]["throughput"] / max(relay["capacity"]["throughput"], 1e-9)
        rate = ours["rate"]
        sustained = (
            rate["throughput"] >= 0.97 * GOAL_RATE and rate["delivered"] == rate["planned"]
            if options.rate >= GOAL_RATE
            else None
        )
        capacity_met = ours["capacity"]["throughput"] >= GOAL_RATE
        print(f"\n{server}: ratio ours/relay (capacity) = {ratio:.2f}")
        print("  DESIGN.md §7 goals:")
        if sustained is None:
            print(f"  - >= {GOAL_RATE:,} msg/s sustained: not tested (offered {options.rate:,})")
        else:
            print(
                f"  - >= {GOAL_RATE:,} msg/s sustained: {'MET' if sustained else 'MISSED'} "
                f"(rate phase {rate['throughput']:,.0f} acked/s, "
                f"capacity {ours['capacity']['throughput']:,.0f}/s"
                f"{'' if capacity_met else ' < goal'})"
            )
        at_500 = options.sockets >= 500
        print(
            f"  - p99 < {GOAL_P99_MS} ms at 500 sockets: "
            f"{'MET' if rate['p99'] < GOAL_P99_MS else 'MISSED'} (p99 {ms(rate['p99'])} ms at "
            f"{options.rate:,} msg/s, {options.sockets} sockets{'' if at_500 else ': too few'})"
        )
        print(
            f"  - >= {GOAL_RELAY_SHARE:.0%} of the bare relay: "
            f"{'MET' if ratio >= GOAL_RELAY_SHARE else 'MISSED'} ({ratio:.0%})"
        )


def summary(data: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """bench/run.py's summary rows, from what `--json` wrote (the results print_report
    reads): per server, our capacity, rate-phase throughput and p99 against the bare relay,
    with the DESIGN.md §7 goals as print_report judges them."""
    rows: list[dict[str, Any]] = []
    for server in dict.fromkeys(key.split("/")[0] for key in data):
        ours, relay = data.get(f"{server}/ours"), data.get(f"{server}/relay")
        if ours is None:
            continue
        sockets, rate = ours["sockets"], ours["rate"]
        share_goal = ""
        if relay is not None:
            share = ours["capacity"]["throughput"] / max(relay["capacity"]["throughput"], 1e-9)
            met = share >= GOAL_RELAY_SHARE
            share_goal = (
                f">= {GOAL_RELAY_SHARE:.0%} of the bare relay: {'MET' if met else 'MISSED'}"
            )
        if rate["offered"] >= GOAL_RATE:
            planned = rate.get("planned", rate["sent"])
            met = rate["throughput"] >= 0.97 * GOAL_RATE and rate["delivered"] == planned
            sustained = "MET" if met else "MISSED"
        else:
            sustained = f"not tested (offered {rate['offered']:,})"
        p99 = "MET" if rate["p99"] < GOAL_P99_MS else "MISSED"
        few = "" if sockets >= 500 else " (too few sockets)"
        offered = f"at {rate['offered']:,} msg/s offered"
        lost = {
            name: part["rate"].get("planned", part["rate"]["sent"]) - part["rate"]["delivered"]
            for name, part in (("ours", ours), ("relay", relay))
            if part is not None
        }
        lost_note = (
            f" (lost: {', '.join(f'{n} {c:,}' for n, c in lost.items())})"
            if any(lost.values())
            else ""
        )
        for figure, part, field, unit, goal in (
            (
                f"capacity, {sockets} sockets, vs bare relay",
                "capacity",
                "throughput",
                "msg/s",
                share_goal,
            ),
            (
                f"acked/s {offered}",
                "rate",
                "throughput",
                "msg/s",
                f">= {GOAL_RATE:,} msg/s sustained: {sustained}",
            ),
            (
                f"p99 send->deliver {offered}{lost_note}",
                "rate",
                "p99",
                "ms",
                f"p99 < {GOAL_P99_MS} ms at 500 sockets: {p99}{few}",
            ),
        ):
            mine = ours[part][field]
            base = relay[part][field] if relay is not None else None
            rows.append(
                {
                    "benchmark": "chat",
                    "figure": f"{server}: {figure}",
                    "ours": mine,
                    "baseline": base,
                    "unit": unit,
                    "ratio": mine / max(base, 1e-9) if base is not None else None,
                    "goal": goal,
                }
            )
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 sockets, shorter phases")
    parser.add_argument("--sockets", type=int)
    parser.add_argument("--rate", type=int, help="offered msg/s in the rate phase")
    parser.add_argument("--rate-seconds", type=float)
    parser.add_argument("--capacity-seconds", type=float)
    parser.add_argument(
        "--in-flight", type=int, default=64, help="messages in flight in the capacity phase"
    )
    parser.add_argument("--servers", default="uvicorn,daphne")
    # The relay first: a backlog our path leaves behind must not slow the baseline down.
    parser.add_argument("--paths", default="relay,ours")
    parser.add_argument(
        "--pool-size",
        help="DATABASE_POOL_MAX_SIZE for the server (default: unset, production's 20)",
    )
    parser.add_argument(
        "--layer",
        choices=["core", "pubsub"],
        default="core",
        help="channel layer: production's RedisChannelLayer (core) or RedisPubSubChannelLayer",
    )
    parser.add_argument(
        "--app",
        default="peerlink.asgi:application",
        help="the ASGI application to serve (to try a variant; add its folder with --path)",
    )
    parser.add_argument("--path", type=Path, action="append", default=[], help="sys.path entry")
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of the server")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    options = parser.parse_args(argv)
    quick = options.quick
    options.sockets = options.sockets or (100 if quick else 500)
    options.sockets -= options.sockets % 2
    options.conversations = options.sockets // 2
    options.rate = options.rate or (300 if quick else GOAL_RATE)
    options.rate_seconds = options.rate_seconds or (3.0 if quick else 6.0)
    options.capacity_seconds = options.capacity_seconds or (3.0 if quick else 5.0)
    options.warm_seconds = 1.0 if quick else 2.0
    options.drain_seconds = 4.0 if quick else 6.0
    options.servers = [s for s in options.servers.split(",") if s]
    options.paths = [p for p in options.paths.split(",") if p]
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    # SIGTERM unwinds like Ctrl-C, so that every server below is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="peerlink-bench-chat-"))
    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        log("starting PostgreSQL and Redis")
        postgres = services.start_postgres()
        stack.callback(postgres.stop)
        redis = services.start_redis()
        stack.callback(redis.stop)
        with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "peerlink_bench"')
        env = server_env(
            postgres.url("peerlink_bench"), redis.url, options.pool_size, options.layer
        )
        if options.path:
            extra = os.pathsep.join(str(p.resolve()) for p in options.path)
            env["PYTHONPATH"] = f"{extra}{os.pathsep}{env['PYTHONPATH']}"
        if VERBOSE:
            log(f"database {postgres.url('peerlink_bench')}, redis {redis.url}")
        log("migrating")
        run_checked([PY, "manage.py", "migrate", "--noinput"], env, timeout=300)
        log(f"writing {options.conversations} conversations through the services")
        world = folder / "world.json"
        run_checked(
            [PY, str(HELPERS / "chatbench_world.py"), "setup", str(options.conversations), world],
            env,
            timeout=600,
        )
        pairs = json.loads(world.read_text())
        load_timeout = 120 + 4 * options.drain_seconds + options.rate_seconds * 4
        for server in options.servers:
            for path in options.paths:
                # A fresh server process and an empty Redis for each path, so that a backlog
                # one path leaves behind cannot slow the next one down.
                redis_client = Redis.from_url(redis.url)
                redis_client.flushall()
                redis_client.close()
                with asgi_server(server, env, folder, options.app) as (port, pid):
                    log(f"{server}: {path} path")
                    if path == "ours":
                        url = f"ws://127.0.0.1:{port}/ws/"
                        job_pairs = json.loads(
                            run_checked(
                                [PY, str(HELPERS / "chatbench_world.py"), "tickets", str(world)],
                                env,
                                timeout=120,
                            )
                        )
                    else:
                        url = f"ws://127.0.0.1:{port}/ws/bench-relay/"
                        job_pairs = [{"conversation": p["conversation"]} for p in pairs]
                    job = {
                        "url": url,
                        "path": path,
                        "pairs": job_pairs,
                        "rate": options.rate,
                        "warm_seconds": options.warm_seconds,
                        "rate_seconds": options.rate_seconds,
                        "capacity_seconds": options.capacity_seconds,
                        "drain_seconds": options.drain_seconds,
                        "in_flight": options.in_flight,
                    }
                    profile = None
                    if options.profile is not None:
                        options.profile.mkdir(parents=True, exist_ok=True)
                        profile = options.profile / f"{server}-{path}.txt"
                    server_log = folder / f"{server}.log"
                    with profiler(pid, profile):
                        result = run_load(job, folder, load_timeout, server_log)
                    results[f"{server}/{path}"] = result
                    log(
                        f"{server}: {path}: {len(job_pairs) * 2} sockets connected in "
                        f"{result['connect_seconds']:.1f} s"
                    )
                    text = server_log.read_text(errors="replace")
                    if "Traceback" in text:
                        log(f"{server} logged errors; last lines:\n{text[-3000:]}")
                    if result.get("errors"):
                        log(f"error frames: {result['errors']}")
    print_report(options, results)
    if options.json is not None:
        options.json.write_text(json.dumps(results, indent=2))
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
