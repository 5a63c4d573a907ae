"""Scheduled texts: planning and dispatch at 10k, 100k and 1M enrolments, each against a
baseline in the same run, on a zero-latency fake SMS provider.

    python bench/scheduler.py [--quick] [--sizes 10000,100000,1000000] [--plan-sample N]
                              [--dispatch-sample N] [--modes queue,send,workers]
                              [--profile DIR] [--json FILE]

Starts PostgreSQL and Redis (tests/support/services.py) and migrates a template database
once. For each size, a fresh database from the template and one worker process
(bench/schedbench/schedbench_worker.py, with the production settings plus the fake Twilio
HTTP client: bench/schedbench/schedbench_settings.py) that seeds N enrolments in bulk
(bench/schedbench/schedbench_world.py; seeding is not what is measured) and then measures:

- planning: `plan_programme` creating every pending row, against `plan_enrolment` per
  enrolment on a sample (extrapolated per enrolment), and a replan (`configure_schedule`
  moving the send time from 10:00 to 09:30) against `plan_enrolment` on existing rows;
- dispatch: `dispatch_due` on a sample of rows made due, against bare writes of the same sends
  (`post_message`, or a send record + `queue_sms` for people without a conversation) for
  other people of the same mix. Mode `queue`: Celery not eager, as in production, so the
  dispatcher writes the outbox rows and puts their tasks on the Redis broker (no worker runs
  them). Mode `send`: Celery eager, so every task also runs, in the dispatcher's process,
  through the real twilio library to the zero-latency fake Twilio HTTP client. Mode
  `workers`: as `queue`, with one real Celery worker (the prefork pool, a child per core,
  as deploy runs it) beside the dispatcher sending the tasks through twilio to the fake; each
  run is timed until every one of its texts is sent, so this is the whole way to the
  provider with the work split between processes as in production.

Prints one table with the ratios, how cost grows from the smallest size to the largest, and
the DESIGN.md §7 goals. Tests never assert timings. Everything it starts is stopped on exit,
error, Ctrl-C or SIGTERM. Method and figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "bench" / "schedbench"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

# The chat and inbound SMS benchmarks for their helpers: production's environment, py-spy,
# the machine line, the commit measured.
import chat  # noqa: E402
import psycopg  # noqa: E402
import sms_inbound  # noqa: E402
from redis import Redis  # noqa: E402

from tests.support import services  # noqa: E402

PY = sys.executable
GOAL_PLAN_SECONDS = 60.0  # the day's sends for 1,000,000 enrolments, DESIGN.md §7
GOAL_PLAN_SIZE = 1_000_000
GOAL_SENDS_PER_SECOND = 300.0
MODES = {
    "queue": "outbox rows + tasks on the Redis broker (production's dispatcher process)",
    "send": "the same, and each send run eagerly through twilio to the fake HTTP client",
    "workers": "as queue, with one Celery worker process sending through twilio to the fake; "
    "timed until every text is sent",
}
TEMPLATE = "peerlink_bench_template"

STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[scheduler {time.monotonic() - STARTED:5.0f}s] {text}", file=sys.stderr, flush=True)


def bench_env(database_url: str, redis_url: str) -> dict[str, str]:
    """What production reads (as the chat benchmark sets it), with the worker's settings."""
    env = chat.server_env(database_url, redis_url, None, "core")
    for chat_only in (
        "PEERLINK_BENCH_RELAY",
        "PEERLINK_WS_FRAMES_PER_SECOND",
        "PEERLINK_WS_FRAME_BURST",
    ):
        env.pop(chat_only, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "schedbench_settings",
            "PYTHONPATH": os.pathsep.join([str(HELPERS), str(ROOT), str(ROOT / "platform")]),
        }
    )
    return env


def start_servers(
    stack: contextlib.ExitStack, env_for: Any, template: str
) -> tuple[services.PostgresServer, services.RedisServer]:
    """PostgreSQL and Redis for one benchmark run (stopped when `stack` closes), and a
    migrated template database to copy a fresh one from per size. `env_for(database_url,
    redis_url)` is the environment migrate runs in."""
    postgres = services.start_postgres()
    stack.callback(postgres.stop)
    redis = services.start_redis()
    stack.callback(redis.stop)
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{template}"')
    chat.run_checked(
        [PY, "manage.py", "migrate", "--noinput"],
        env_for(postgres.url(template), redis.url),
        timeout=300,
    )
    return postgres, redis


def create_from_template(admin_url: str, database: str, template: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')


def dispatch_instant() -> dt.datetime:
    """The instant the bench plans and dispatches at: 18:30 UTC two days ahead. In the
    future, so that the outbox rows' staleness limits (two hours after it) are too; at
    18:30 UTC it is 10:30 to 16:00 in every Canadian time zone, outside everyone's quiet
    hours, and every 10:00 (or 09:30) local send of that day is already past."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(today + dt.timedelta(days=2), dt.time(18, 30), tzinfo=dt.UTC)


def run_worker(
    env: dict[str, str], job: dict[str, Any], folder: Path, profile: Path | None
) -> dict[str, Any]:
    job_file = folder / f"job-{job['size']}.json"
    job_file.write_text(json.dumps(job))
    stderr_path = folder / f"worker-{job['size']}.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [PY, str(HELPERS / "schedbench_worker.py"), str(job_file)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            # The whole worker, seeding included: wall time, waits on PostgreSQL counted.
            with chat.profiler(process.pid, profile, ["-r", "100", "--idle"]):
                stdout, _ = process.communicate(timeout=job["timeout"])
        finally:
            chat.stop_process(process)
    text = stderr_path.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"worker for {job['size']:,} failed:\n{text[-4000:]}")
    if "Traceback" in text or "WARNING" in text:
        log(f"the worker for {job['size']:,} logged:\n{text[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def checks(result: dict[str, Any], options: argparse.Namespace) -> list[str]:
    """What must hold for the figures to mean anything; empty when all is well."""
    problems = []
    size = result["size"]
    plan = result["planning"]
    if plan["create"]["counts"]["created"] != size:
        problems.append(f"{size:,}: plan_programme created {plan['create']['counts']}")
    if plan["check"]["scheduled"] != size or plan["check"]["due_by_now"] != 0:
        problems.append(f"{size:,}: after planning {plan['check']}")
    for mode, runs in result["dispatch"].items():
        ours, bare = runs["ours"], runs["bare"]
        want = options.dispatch_sample
        status = "pending" if mode == "queue" else "sent"
        if ours["outcomes"] != {"sent": want} or ours["records_sent"] != want:
            problems.append(f"{size:,} {mode}: dispatcher outcomes {ours['outcomes']}")
        if ours["outbox"] != {status: want} or bare["outbox"] != {status: want}:
            problems.append(f"{size:,} {mode}: outbox {ours['outbox']} / bare {bare['outbox']}")
        if ours["still_due"]:
            problems.append(f"{size:,} {mode}: {ours['still_due']} rows still due")
    return problems


PRODUCT = ("scheduling", "messaging", "platform", "outcomes")


def product_hash() -> str:
    """A hash of the product's Python files as they are now: each size's worker imports them
    afresh, so a change while the benchmark runs would mix versions (the report says so)."""
    digest = hashlib.sha256()
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


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
        f"{name} {version(name)}" for name in ("django", "psycopg", "celery", "twilio", "redis")
    )
    return f"PostgreSQL {row[0] if row else '?'}, Redis {redis_version}, {packages}"


def growth(first: float, last: float) -> str:
    return f"x{last / first:.2f}" if first else "-"


def print_report(
    options: argparse.Namespace, results: list[dict[str, Any]], extra: dict[str, str]
) -> None:
    print(f"machine: {chat.machine()}")
    print(f"software: {extra['versions']}; commit {extra['commit']}")
    codes = ", ".join(sorted(set().union(*(r["product_hash"] for r in results))))
    print(f"product code (scheduling, messaging, platform, outcomes) hash: {codes}")
    print(f"load average (1/5/15 min): {extra['load_before']} before, {extra['load_after']} after")
    print(
        f"world per size: N enrolments in one programme (30% with a conversation, 70% texts "
        f"only, all on SMS with consent; 8 Canadian time zones, 5 quiet-hours choices), "
        f"planned and dispatched at {extra['now']}; baselines on {options.plan_sample:,} "
        f"enrolments (planning) and {options.dispatch_sample:,} sends (dispatch, after "
        f"{options.warm} warm-up sends), each size in a fresh database and process"
    )
    for mode in options.modes:
        print(f"dispatch mode {mode}: {MODES[mode]}")
    modes = options.modes
    header = (
        f"{'enrolments':>10}{'plan s':>8}{'µs/enr':>8}{'naive µs':>10}{'x faster':>9}"
        f"{'replan s':>9}{'µs/enr':>8}{'naive µs':>10}"
    )
    for mode in modes:
        header += f"{mode + ' /s':>10}{'bare /s':>9}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    for result in results:
        plan = result["planning"]
        line = (
            f"{result['size']:>10,}{plan['create']['seconds']:>8.1f}"
            f"{plan['create']['us_per_item']:>8.0f}{plan['baseline_create']['us_per_item']:>10,.0f}"
            f"{plan['baseline_create']['us_per_item'] / plan['create']['us_per_item']:>9.1f}"
            f"{plan['replan']['seconds']:>9.1f}{plan['replan']['us_per_item']:>8.0f}"
            f"{plan['baseline_replan']['us_per_item']:>10,.0f}"
        )
        for mode in modes:
            ours, bare = result["dispatch"][mode]["ours"], result["dispatch"][mode]["bare"]
            line += (
                f"{ours['per_second']:>10.0f}{bare['per_second']:>9.0f}"
                f"{ours['per_second'] / bare['per_second']:>7.2f}"
            )
        print(line)
    if len(results) > 1:
        first, last = results[0], results[-1]
        fp, lp = first["planning"], last["planning"]

        def grew(part: str, figure: str, width: int) -> str:
            return f"{growth(fp[part][figure], lp[part][figure]):>{width}}"

        line = (
            f"{'growth':>10}{grew('create', 'seconds', 8)}{grew('create', 'us_per_item', 8)}"
            f"{grew('baseline_create', 'us_per_item', 10)}{'':>9}"
            f"{grew('replan', 'seconds', 9)}{grew('replan', 'us_per_item', 8)}"
            f"{grew('baseline_replan', 'us_per_item', 10)}"
        )
        for mode in modes:
            fo, lo = first["dispatch"][mode], last["dispatch"][mode]
            line += (
                f"{growth(fo['ours']['per_second'], lo['ours']['per_second']):>10}"
                f"{growth(fo['bare']['per_second'], lo['bare']['per_second']):>9}{'':>7}"
            )
        print(line)
        print(
            f"  (growth: the figure at {last['size']:,} over the figure at {first['size']:,}, "
            f"{last['size'] / first['size']:,.0f} times the enrolments; flat is x1.00)"
        )
    print("\ndetails per size (queries per enrolment or send; CPU = the worker's own share):")
    for result in results:
        plan = result["planning"]
        parts = [
            f"seeded in {result['seed_seconds']:.0f} s",
            f"plan {plan['create']['queries_per_item'] * 1000:.1f} queries/1000 enr, "
            f"CPU {plan['create']['cpu_seconds'] / plan['create']['seconds']:.0%}",
            f"replan CPU {plan['replan']['cpu_seconds'] / plan['replan']['seconds']:.0%}",
            f"naive {plan['baseline_create']['queries_per_item']:.1f} queries/enr",
        ]
        for mode in modes:
            ours, bare = result["dispatch"][mode]["ours"], result["dispatch"][mode]["bare"]
            parts.append(
                f"{mode}: {ours['queries_per_item']:.1f} vs {bare['queries_per_item']:.1f} "
                f"queries/send, CPU {ours['cpu_seconds'] / ours['seconds']:.0%} vs "
                f"{bare['cpu_seconds'] / bare['seconds']:.0%}, "
                f"{ours['with_conversation']} of {ours['count']} in a conversation"
            )
            if "worker_cpu_seconds" in ours:
                parts[-1] += (
                    f", Celery worker CPU {ours['worker_cpu_seconds'] / ours['seconds']:.0%} vs "
                    f"{bare['worker_cpu_seconds'] / bare['seconds']:.0%}"
                )
        parts.append(f"database {result['database_bytes'] / 2**30:.2f} GiB")
        print(f"  {result['size']:>9,}: " + "; ".join(parts))
    report_goals(options, results)


def plan_goal(largest: dict[str, Any]) -> tuple[str, str]:
    """The planning goal's verdict at the largest size, and how it was reached."""
    plan = largest["planning"]["create"]
    if largest["size"] >= GOAL_PLAN_SIZE:
        seconds = plan["seconds"] * GOAL_PLAN_SIZE / largest["size"]
        how = f"{plan['seconds']:.1f} s for {largest['size']:,}"
    else:
        seconds = plan["us_per_item"] * GOAL_PLAN_SIZE / 1e6
        how = (
            f"not run at 1,000,000; {plan['us_per_item']:.0f} µs/enrolment at "
            f"{largest['size']:,} gives {seconds:.0f} s"
        )
    verdict = "MET" if seconds < GOAL_PLAN_SECONDS else "MISSED"
    if largest["size"] < GOAL_PLAN_SIZE:
        verdict += " (extrapolated)"
    return verdict, how


def dispatch_goal(results: list[dict[str, Any]], mode: str) -> tuple[str, list[float]]:
    """The dispatch goal's verdict for a mode (its worst size counts), and the rates."""
    rates = [r["dispatch"][mode]["ours"]["per_second"] for r in results]
    return ("MET" if min(rates) >= GOAL_SENDS_PER_SECOND else "MISSED"), rates


def report_goals(options: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    print("DESIGN.md §7 goals:")
    verdict, how = plan_goal(results[-1])
    print(f"  - 1,000,000 enrolments planned in < {GOAL_PLAN_SECONDS:.0f} s: {verdict} ({how})")
    for mode in options.modes:
        verdict, rates = dispatch_goal(results, mode)
        print(
            f"  - dispatch >= {GOAL_SENDS_PER_SECOND:.0f} sends/s ({mode}): {verdict} "
            f"({', '.join(f'{r:.0f}' for r in rates)} sends/s; one dispatcher process"
            f"{', one Celery worker' if mode == 'workers' else ''})"
        )


def summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run.py's summary rows, from what `--json` wrote: at the largest size, planning
    and replanning against plan_enrolment per enrolment, and each dispatch mode against
    the bare writes, with the DESIGN.md §7 goals as report_goals judges them."""
    results = data["results"]
    largest = results[-1]
    size, plan = largest["size"], largest["planning"]
    verdict, _ = plan_goal(largest)
    rows: list[dict[str, Any]] = [
        {
            "benchmark": "scheduler",
            "figure": f"{name} at {size:,} enrolments, vs plan_enrolment each",
            "ours": plan[part]["us_per_item"],
            "baseline": plan[f"baseline_{part}"]["us_per_item"],
            "unit": "µs/enrolment",
            "ratio": plan[part]["us_per_item"] / plan[f"baseline_{part}"]["us_per_item"],
            "goal": goal,
        }
        for name, part, goal in (
            (
                "planning",
                "create",
                f"{GOAL_PLAN_SIZE:,} planned in < {GOAL_PLAN_SECONDS:.0f} s: {verdict}",
            ),
            ("replanning", "replan", ""),
        )
    ]
    for mode, runs in largest["dispatch"].items():
        verdict, rates = dispatch_goal(results, mode)
        ours, bare = runs["ours"]["per_second"], runs["bare"]["per_second"]
        rows.append(
            {
                "benchmark": "scheduler",
                "figure": f"dispatch ({mode}) at {size:,} enrolments, vs bare writes",
                "ours": ours,
                "baseline": bare,
                "unit": "sends/s",
                "ratio": ours / bare,
                "goal": f">= {GOAL_SENDS_PER_SECOND:.0f} sends/s at every size: {verdict}"
                + (f" (worst {min(rates):,.0f})" if len(rates) > 1 else ""),
            }
        )
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k, smaller samples")
    parser.add_argument("--sizes", help="enrolments per run, comma-separated")
    parser.add_argument("--plan-sample", type=int, help="enrolments for the naive baseline")
    parser.add_argument("--dispatch-sample", type=int, help="sends per dispatch run and mode")
    parser.add_argument("--warm", type=int, default=50, help="warm-up sends per path and mode")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="any of queue, send, workers (default: all)"
    )
    parser.add_argument("--seed", type=int, default=7, help="for the samples")
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of the worker")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    options = parser.parse_args(argv)
    quick = options.quick
    default_sizes = "10000,100000" if quick else "10000,100000,1000000"
    options.sizes = [int(n) for n in (options.sizes or default_sizes).split(",") if n]
    options.plan_sample = options.plan_sample or (500 if quick else 2000)
    options.dispatch_sample = options.dispatch_sample or (500 if quick else 1500)
    options.modes = [m for m in MODES if m in options.modes.split(",")]
    if not options.modes:
        parser.error(f"--modes: any of {', '.join(MODES)}")
    # Four disjoint samples per mode (two warm-ups, the bare run, the dispatcher's).
    need = len(options.modes) * 2 * (options.dispatch_sample + options.warm)
    if need > min(options.sizes):
        parser.error(f"--dispatch-sample too large: {need:,} rows needed at each size")
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="peerlink-bench-scheduler-"))
    now = dispatch_instant()
    extra = {
        "load_before": sms_inbound.loadavg(),
        "commit": sms_inbound.commit(),
        "now": now.isoformat(),
    }
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        log("starting PostgreSQL and Redis; migrating the template database")
        postgres, redis = start_servers(stack, bench_env, TEMPLATE)
        admin = postgres.url("postgres")
        for size in options.sizes:
            database = f"peerlink_bench_{size}"
            create_from_template(admin, database, TEMPLATE)
            client = Redis.from_url(redis.url)
            client.flushall()
            client.close()
            job = {
                "size": size,
                "now": now.isoformat(),
                "seed": options.seed,
                "plan_sample": options.plan_sample,
                "dispatch_sample": options.dispatch_sample,
                "dispatch_warm": options.warm,
                "modes": options.modes,
                # Generous: seeding and planning a million take minutes, and the eager
                # sends are slow.
                "timeout": 600 + size / 500,
            }
            profile = None
            if options.profile is not None:
                options.profile.mkdir(parents=True, exist_ok=True)
                profile = options.profile / f"worker-{size}.txt"
            log(f"{size:,} enrolments")
            code = product_hash()
            started = time.monotonic()
            result = run_worker(bench_env(postgres.url(database), redis.url), job, folder, profile)
            result["worker_seconds"] = time.monotonic() - started
            result["product_hash"] = {code, product_hash()}
            results.append(result)
            log(
                f"{size:,}: plan {result['planning']['create']['seconds']:.1f} s, "
                + ", ".join(
                    f"{mode} {result['dispatch'][mode]['ours']['per_second']:.0f} sends/s"
                    for mode in options.modes
                )
                + f" (worker {result['worker_seconds']:.0f} s)"
            )
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{database}"')
        extra["load_after"] = sms_inbound.loadavg()
        extra["versions"] = versions(admin, redis.url)
    print_report(options, results, extra)
    problems = [p for r in results for p in checks(r, options)]
    hashes = set().union(*(r["product_hash"] for r in results))
    if len(hashes) > 1:
        problems.append(f"the product code changed while the benchmark ran ({sorted(hashes)})")
    for result in results:
        result["product_hash"] = sorted(result["product_hash"])
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    if not problems:
        print(
            "checks: every size planned every enrolment with nothing due early; every "
            "dispatched and bare send wrote its outbox row (sent, in modes send and workers); "
            "nothing left due"
        )
    print(f"run time: {time.monotonic() - STARTED:.0f} s")
    if options.json is not None:
        options.json.write_text(json.dumps({"results": results, **extra}, indent=2))
    log("done")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
