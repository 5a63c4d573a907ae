"""Inbound SMS: signed Twilio webhooks at rising concurrency against the real server, against a
bare Django view served by the same server in the same run.

    python bench/sms_inbound.py [--quick] [--levels 1,8,32,64] [--seconds S] [--warm S]
                                [--paths bare,ours] [--participants N] [--peers N]
                                [--sockets N] [--per-minute N] [--pool-size N]
                                [--profile DIR] [--json FILE]

Starts PostgreSQL and Redis (tests/support/services.py), migrates a fresh database, writes the
world through the real services (service users on SMS with SMS consent, each in a conversation
with an assigned peer supporter), then starts one uvicorn process as deploy/Procfile runs it,
with the production settings plus the bench-only bare view (bench/smsbench/smsbench_settings.py)
and the Twilio signature checked for the server's real address. The load generator
(bench/smsbench/smsbench_load.py, a separate process) opens some peer supporters' WebSockets,
then for each concurrency level drives the bare view (`POST /bench/bare/`) and then our
endpoint (`POST /sms/twilio/inbound/`) in a closed loop. Afterwards the database is checked:
one message per accepted webhook, none twice. Prints requests/s and latency for both paths,
the ratio, and the DESIGN.md §7 goals. Everything it starts is stopped on exit, error, Ctrl-C
or SIGTERM. Method and figures: docs/performance.md.
PEERLINK_BENCH_VERBOSE=1 shows the load generator's progress.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
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
HELPERS = ROOT / "bench" / "smsbench"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

# The chat benchmark (bench/chat.py) for its helpers: production's environment, the server
# command, py-spy, the machine line.
import chat  # noqa: E402
import psycopg  # noqa: E402
from redis import Redis  # noqa: E402

from tests.support import services  # noqa: E402

PY = sys.executable
GOAL_RPS = 500  # requests/s, DESIGN.md §7
GOAL_BARE_SHARE = 0.5
# The production default is 30 texts per number per minute (DESIGN.md §5). The bench sends
# each of its senders far more than that, so it raises the limit; the check itself (two Redis
# calls per webhook) still runs on every request.
BENCH_PER_MINUTE = 1_000_000

STARTED = time.monotonic()
VERBOSE = os.environ.get("PEERLINK_BENCH_VERBOSE") == "1"


def log(text: str) -> None:
    print(f"[sms_inbound {time.monotonic() - STARTED:5.0f}s] {text}", file=sys.stderr, flush=True)


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def bench_env(
    database_url: str, redis_url: str, port: int, options: argparse.Namespace
) -> dict[str, str]:
    """What production reads (as the chat benchmark sets it), for this server's address."""
    env = chat.server_env(database_url, redis_url, options.pool_size, "core")
    for chat_only in (
        "PEERLINK_BENCH_RELAY",
        "PEERLINK_WS_FRAMES_PER_SECOND",
        "PEERLINK_WS_FRAME_BURST",
    ):
        env.pop(chat_only, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "smsbench_settings",
            "PYTHONPATH": os.pathsep.join([str(HELPERS), str(ROOT), str(ROOT / "platform")]),
            # Twilio signs the URL it calls: here, this server's real address.
            "PEERLINK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PEERLINK_SMS_INBOUND_PER_MINUTE": str(options.per_minute),
        }
    )
    return env


@contextlib.contextmanager
def uvicorn(env: dict[str, str], port: int, log_path: Path) -> Iterator[int]:
    """One uvicorn process as deploy/Procfile runs it; yields its pid."""
    command = chat.server_command("uvicorn", port, "peerlink.asgi:application")
    command.append("--no-access-log")
    with log_path.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            services._wait_for_port(port, timeout=60, process=process)  # type: ignore[arg-type]
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log_path.read_text(errors='replace')[-3000:]}") from None
        yield process.pid
    finally:
        chat.stop_process(process, grace=5)


def run_load(
    job: dict[str, Any], env: dict[str, str], folder: Path, server_log: Path
) -> dict[str, Any]:
    job_file = folder / "job.json"
    job_file.write_text(json.dumps(job))
    per_phase = job["warm_seconds"] + job["seconds"] + 10
    timeout = 120 + len(job["paths"]) * len(job["levels"]) * per_phase + job["settle_seconds"]
    process = subprocess.Popen(
        [PY, str(HELPERS / "smsbench_load.py"), str(job_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=None if VERBOSE else subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        chat.stop_process(process)
        job_file.unlink(missing_ok=True)
    if process.returncode != 0:
        raise RuntimeError(
            f"load generator failed:\n{(stderr or '')[-3000:]}\nserver log:\n"
            + server_log.read_text(errors="replace")[-5000:]
        )
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def check_database(database_url: str, accepted: int) -> tuple[bool, str]:
    """One message per accepted webhook, none twice, every webhook recorded once."""
    with psycopg.connect(database_url) as conn:
        messages, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (conversation_id, client_id)) FROM messaging_message "
            "WHERE channel = 'sms' AND sender_role = 'participant' AND client_id LIKE 'sms:%'"
        ).fetchone() or (0, 0)
        inbound, outcomes = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'message' "
            "AND message_id IS NOT NULL) FROM messaging_inboundsms"
        ).fetchone() or (0, 0)
        gaps = conn.execute(
            "SELECT count(*) FROM (SELECT conversation_id, max(seq) - count(*) AS gap "
            "FROM messaging_message GROUP BY conversation_id) g WHERE gap <> 0"
        ).fetchone()
    ok = messages == distinct == inbound == outcomes == accepted and gaps == (0,)
    text = (
        f"{accepted:,} webhooks answered 200; {messages:,} SMS messages stored "
        f"({messages - distinct} duplicates), {inbound:,} inbound rows ({outcomes:,} posted), "
        f"{gaps[0] if gaps else '?'} conversations with seq gaps: {'OK' if ok else 'MISMATCH'}"
    )
    return ok, text


def commit() -> str:
    """The commit measured, and whether the product code differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "diff",
                "--quiet",
                "HEAD",
                "--",
                "platform",
                "messaging",
                "scheduling",
                "outcomes",
            ],
            cwd=ROOT,
        ).returncode
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted product changes' if dirty else ''}"


def versions(postgres_url: str, redis_url: str) -> str:
    from importlib.metadata import version

    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    client = Redis.from_url(redis_url)
    try:
        redis_version = client.info("server")["redis_version"]
    finally:
        client.close()
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("django", "uvicorn", "httptools", "twilio", "redis")
    )
    return f"PostgreSQL {row[0] if row else '?'}, Redis {redis_version}, {packages}"


def ms(value: float) -> str:
    return "-" if math.isinf(value) else f"{value:.1f}"


def print_report(
    options: argparse.Namespace, result: dict[str, Any], extra: dict[str, str]
) -> bool:
    """The table, the ratio and the goals; False when an answer was not 200."""
    print(f"machine: {chat.machine()}")
    print(f"software: {extra['versions']}; commit {extra['commit']}")
    print(f"load average (1/5/15 min): {extra['load_before']} before, {extra['load_after']} after")
    print(
        f"world: {options.participants} service users on SMS over {options.peers} peer "
        f"supporters; one uvicorn process (production settings + bench/bare/); closed loop, "
        f"{options.warm:g} s warm-up + {options.seconds:g} s timed per path and concurrency; "
        f"PEERLINK_SMS_INBOUND_PER_MINUTE={options.per_minute:,} (production: 30)"
    )
    pool = options.pool_size or "unset (production's 20)"
    print(f"database connections: production's psycopg pool, DATABASE_POOL_MAX_SIZE={pool}")
    header = (
        f"{'path':<6}{'conc':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'server CPU ms/req':>19}{'PostgreSQL CPU ms/req':>23}"
    )
    print(header)
    print("-" * len(header))
    phases = result["phases"]
    for phase in phases:
        errors = sum(phase["errors"].values())
        print(
            f"{phase['path']:<6}{phase['concurrency']:>6}{phase['rps']:>9,.0f}"
            f"{ms(phase['p50']):>9}{ms(phase['p95']):>9}{ms(phase['p99']):>9}{errors:>8}"
            f"{phase['server_cpu']:>19.2f}{phase['postgres_cpu']:>23.2f}"
        )
    report_goals(options, phases)
    errors = {f"{p['path']}/c={p['concurrency']}": p["errors"] for p in phases if p["errors"]}
    print(f"non-200 answers (warm-up included; 0 = broken connection): {errors or 'none'}")
    if result["signed_inline"]:
        print(
            f"note: {result['signed_inline']} webhooks were signed inline (pre-signed pool ran out)"
        )
    fanout = result["fanout"]
    if fanout["sockets"]:
        print(
            f"fan-out: {fanout['sockets']} peer supporter sockets got {fanout['received']:,} "
            f"`message` frames of {fanout['expected']:,} expected ({fanout['missing']} missing, "
            f"{fanout['duplicates']} duplicates)"
        )
    print(f"database: {extra['database']}")
    return not errors


def report_goals(options: argparse.Namespace, phases: list[dict[str, Any]]) -> None:
    by = {(p["path"], p["concurrency"]): p for p in phases}
    best = {
        path: max((p for p in phases if p["path"] == path), key=lambda p: p["rps"])
        for path in options.paths
    }
    if len(best) == 2:
        print("\nratio ours/bare (req/s):")
        for level in options.levels:
            ours, bare = by[("ours", level)], by[("bare", level)]
            print(f"  c={level:<4} {ours['rps'] / max(bare['rps'], 1e-9):.2f}")
        share = best["ours"]["rps"] / max(best["bare"]["rps"], 1e-9)
        print(
            f"  best vs best: {share:.2f} (ours {best['ours']['rps']:,.0f} req/s at "
            f"c={best['ours']['concurrency']}, bare {best['bare']['rps']:,.0f} req/s at "
            f"c={best['bare']['concurrency']})"
        )
    if "ours" not in best:
        return
    ours = best["ours"]
    print("DESIGN.md §7 goals:")
    print(
        f"  - >= {GOAL_RPS} req/s: {'MET' if ours['rps'] >= GOAL_RPS else 'MISSED'} "
        f"({ours['rps']:,.0f} req/s at c={ours['concurrency']})"
    )
    if len(best) == 2:
        print(
            f"  - >= {GOAL_BARE_SHARE:.0%} of the bare view: "
            f"{'MET' if share >= GOAL_BARE_SHARE else 'MISSED'} ({share:.0%}, best vs best)"
        )


def summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run.py's summary rows, from what `--json` wrote: each path's best req/s (as
    report_goals compares them, with the DESIGN.md §7 goals) and the p99 at the highest
    concurrency."""
    phases = data["result"]["phases"]
    best = {
        path: max((p for p in phases if p["path"] == path), key=lambda p: p["rps"])
        for path in dict.fromkeys(p["path"] for p in phases)
    }
    ours, bare = best.get("ours"), best.get("bare")
    if ours is None:
        return []
    goal = f">= {GOAL_RPS} req/s: {'MET' if ours['rps'] >= GOAL_RPS else 'MISSED'}"
    where = f"ours c={ours['concurrency']}"
    if bare is not None:
        share = ours["rps"] / max(bare["rps"], 1e-9)
        goal += (
            f"; >= {GOAL_BARE_SHARE:.0%} of the bare view: "
            f"{'MET' if share >= GOAL_BARE_SHARE else 'MISSED'}"
        )
        where += f", bare c={bare['concurrency']}"
    rows: list[dict[str, Any]] = [
        {
            "benchmark": "sms_inbound",
            "figure": f"best req/s ({where}), vs bare view",
            "ours": ours["rps"],
            "baseline": bare["rps"] if bare else None,
            "unit": "req/s",
            "ratio": ours["rps"] / max(bare["rps"], 1e-9) if bare else None,
            "goal": goal,
        }
    ]
    level = max(p["concurrency"] for p in phases)
    by = {(p["path"], p["concurrency"]): p for p in phases}
    top, top_bare = by.get(("ours", level)), by.get(("bare", level))
    if top is not None:
        rows.append(
            {
                "benchmark": "sms_inbound",
                "figure": f"p99 at c={level}, vs bare view",
                "ours": top["p99"],
                "baseline": top_bare["p99"] if top_bare else None,
                "unit": "ms",
                "ratio": top["p99"] / max(top_bare["p99"], 1e-9) if top_bare else None,
            }
        )
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two levels, shorter phases")
    parser.add_argument("--levels", help="concurrency levels, comma-separated (default 1,8,32,64)")
    parser.add_argument("--seconds", type=float, help="timed window per path and level")
    parser.add_argument("--warm", type=float, help="warm-up per path and level")
    parser.add_argument("--participants", type=int, help="service users on SMS (500; quick 200)")
    parser.add_argument("--peers", type=int, help="peer supporters (50; quick 20)")
    parser.add_argument("--sockets", type=int, default=10, help="peer supporter sockets to open")
    parser.add_argument("--paths", default="bare,ours", help="bare, ours or both (in that order)")
    parser.add_argument(
        "--per-minute",
        type=int,
        default=BENCH_PER_MINUTE,
        help="PEERLINK_SMS_INBOUND_PER_MINUTE for the server (production: 30)",
    )
    parser.add_argument(
        "--pool-size",
        help="DATABASE_POOL_MAX_SIZE for the server (default: unset, production's 20)",
    )
    parser.add_argument("--profile", type=Path, help="folder for a py-spy (GIL) profile")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    options = parser.parse_args(argv)
    quick = options.quick
    options.levels = [
        int(n) for n in (options.levels or ("1,32" if quick else "1,8,32,64")).split(",") if n
    ]
    options.seconds = options.seconds or (3.0 if quick else 5.0)
    options.warm = options.warm or (1.0 if quick else 2.0)
    options.participants = options.participants or (200 if quick else 500)
    options.peers = options.peers or (20 if quick else 50)
    options.sockets = min(options.sockets, options.peers)
    options.paths = [p for p in ("bare", "ours") if p in options.paths.split(",")]
    if not options.paths:
        parser.error("--paths: bare, ours or both")
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    # SIGTERM unwinds like Ctrl-C, so that everything below is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="peerlink-bench-sms-"))
    extra = {"load_before": loadavg(), "commit": commit()}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        log("starting PostgreSQL and Redis")
        postgres = services.start_postgres()
        stack.callback(postgres.stop)
        redis = services.start_redis()
        stack.callback(redis.stop)
        with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "peerlink_bench"')
        database_url = postgres.url("peerlink_bench")
        port = services.free_port()
        env = bench_env(database_url, redis.url, port, options)
        log("migrating")
        chat.run_checked([PY, "manage.py", "migrate", "--noinput"], env, timeout=300)
        log(f"writing {options.participants} service users on SMS through the services")
        world = folder / "world.json"  # the fictional numbers: for the load generator only
        chat.run_checked(
            [
                PY,
                str(HELPERS / "smsbench_world.py"),
                "setup",
                str(options.participants),
                str(options.peers),
                world,
            ],
            env,
            timeout=900,
        )
        server_log = folder / "uvicorn.log"
        with uvicorn(env, port, server_log) as pid:
            tickets = json.loads(
                chat.run_checked(
                    [
                        PY,
                        str(HELPERS / "smsbench_world.py"),
                        "tickets",
                        world,
                        str(options.sockets),
                    ],
                    env,
                    timeout=120,
                )
            )
            job = {
                "host": "127.0.0.1",
                "port": port,
                "public_url": env["PEERLINK_PUBLIC_URL"],
                "ws_url": f"ws://127.0.0.1:{port}/ws/",
                "token": env["TWILIO_AUTH_TOKEN"],
                "world": str(world),
                "tickets": tickets,
                "levels": options.levels,
                "paths": options.paths,
                "server_pid": pid,
                "postgres_pid": int(
                    (postgres.root / "data" / "postmaster.pid").read_text().split()[0]
                ),
                "warm_seconds": options.warm,
                "seconds": options.seconds,
                "settle_seconds": 10.0,
            }
            profile = None
            if options.profile is not None:
                options.profile.mkdir(parents=True, exist_ok=True)
                profile = options.profile / f"uvicorn-{'-'.join(options.paths)}.txt"
            log(f"load: levels {options.levels}, paths {' then '.join(options.paths)} at each")
            # Only the thread that holds the GIL: where the one core the server's Python can
            # use goes. Django runs every request on a thread of its own;
            # bench/smsbench/profile_all.py adds them up.
            with chat.profiler(pid, profile, ["-r", "100", "--gil"]):
                result = run_load(job, env, folder, server_log)
            text = server_log.read_text(errors="replace")
            if "Traceback" in text or any(p["errors"] for p in result["phases"]):
                log(f"the server logged errors; last lines:\n{text[-3000:]}")
        extra["load_after"] = loadavg()
        ok, extra["database"] = check_database(database_url, result["accepted_ours"])
        extra["versions"] = versions(database_url, redis.url)
    clean = print_report(options, result, extra)
    if options.json is not None:
        options.json.write_text(json.dumps({"result": result, **extra}, indent=2))
    log("done")
    return 0 if ok and clean else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
