"""The evaluator export at 10k, 100k and 1M survey responses, against a bare COPY of the
same rows in the same run.

    python bench/export.py [--quick] [--sizes 10000,100000,1000000] [--json FILE]

Starts PostgreSQL and Redis (tests/support/services.py) and migrates a template database
once. For each size, a fresh database from the template, seeded in bulk
(bench/exportbench/exportbench_world.py: people with research consent and a completed PHQ-9
and GAD-7 at two timepoints), then two fresh processes, each measured alone
(bench/exportbench/exportbench_worker.py, production settings):

- ours: `export_programme` writing every table, datapackage.json and codebook.md;
- baseline: `COPY ... TO STDOUT` of the participants and every item answer into CSV files,
  the floor of getting those rows out of the database.

Prints time, throughput and peak resident memory for both, the ratio, how each grows from
the smallest size to the largest, and the DESIGN.md §7 goal (1M responses in < 30 s and
< 300 MB). Tests never assert timings. Method and figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "bench" / "exportbench"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import chat  # noqa: E402
import psycopg  # noqa: E402
import scheduler  # noqa: E402
import sms_inbound  # noqa: E402

PY = sys.executable
GOAL_SIZE = 1_000_000
GOAL_SECONDS = 30.0
GOAL_MIB = 300.0
TEMPLATE = "peerlink_export_template"
STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[export {time.monotonic() - STARTED:5.0f}s] {text}", file=sys.stderr, flush=True)


def worker_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = scheduler.bench_env(database_url, redis_url)
    env["PEERLINK_EXPORT_KEYS"] = "bench:" + base64.b64encode(b"bench-export-key" * 2).decode()
    return env


def step(env: dict[str, str], *args: str, timeout: float) -> dict[str, Any]:
    output = chat.run_checked([PY, str(HELPERS / "exportbench_worker.py"), *args], env, timeout)
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def measure(size: int, env: dict[str, str], folder: Path, now: dt.datetime) -> dict[str, Any]:
    seeded = step(env, "seed", str(size), now.isoformat(), timeout=600 + size / 1000)
    log(f"{size:,}: seeded {seeded['responses']:,} responses in {seeded['seconds']:.0f} s")
    ours = step(env, "export", str(folder / f"ours-{size}"), timeout=600)
    bare = step(env, "baseline", str(folder / f"bare-{size}"), timeout=600)
    log(f"{size:,}: export {ours['seconds']:.1f} s, bare COPY {bare['seconds']:.1f} s")
    return {"size": size, "seeded": seeded, "ours": ours, "baseline": bare}


def checks(result: dict[str, Any]) -> list[str]:
    problems = []
    responses, people = result["seeded"]["responses"], result["seeded"]["people"]
    rows = result["ours"]["rows"]
    if rows.get("participants.csv") != people:
        problems.append(f"{result['size']:,}: participants.csv has {rows.get('participants.csv')}")
    sessions = rows.get("survey_phq9.csv", 0) + rows.get("survey_gad7.csv", 0)
    if sessions != result["baseline"]["rows"]["participants.csv"] * 4:
        problems.append(f"{result['size']:,}: {sessions} survey rows for {people} people")
    if result["baseline"]["rows"]["answers.csv"] != responses:
        problems.append(f"{result['size']:,}: the baseline copied a different number of answers")
    return problems


def print_report(results: list[dict[str, Any]], extra: dict[str, str]) -> None:
    print(f"machine: {chat.machine()}")
    print(f"software: {extra['versions']}; commit {extra['commit']}")
    print(f"load: {extra['load_before']} before, {extra['load_after']} after")
    print()
    print(
        "| responses | people | export s | responses/s | peak MiB | bare COPY s | bare peak MiB "
        "| ours / bare time |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        ours, bare = r["ours"], r["baseline"]
        responses = r["seeded"]["responses"]
        print(
            f"| {responses:,} | {r['seeded']['people']:,} | {ours['seconds']:.2f} "
            f"| {responses / ours['seconds']:,.0f} | {ours['peak_mib']:.0f} "
            f"| {bare['seconds']:.2f} | {bare['peak_mib']:.0f} "
            f"| x{ours['seconds'] / bare['seconds']:.2f} |"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        grow = last["seeded"]["responses"] / first["seeded"]["responses"]
        print()
        print(
            f"growth from {first['seeded']['responses']:,} to {last['seeded']['responses']:,} "
            f"responses (x{grow:.0f}): export time "
            f"{scheduler.growth(first['ours']['seconds'], last['ours']['seconds'])}, peak memory "
            f"{scheduler.growth(first['ours']['peak_mib'], last['ours']['peak_mib'])}; bare COPY "
            f"time {scheduler.growth(first['baseline']['seconds'], last['baseline']['seconds'])}"
        )
    goal = [r for r in results if r["size"] == GOAL_SIZE]
    if goal:
        ours = goal[0]["ours"]
        met = ours["seconds"] < GOAL_SECONDS and ours["peak_mib"] < GOAL_MIB
        print(
            f"goal (DESIGN.md §7): {GOAL_SIZE:,} responses in < {GOAL_SECONDS:.0f} s and "
            f"< {GOAL_MIB:.0f} MB: {ours['seconds']:.1f} s, {ours['peak_mib']:.0f} MiB "
            f"({'met' if met else 'NOT met'})"
        )


def summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run.py's summary rows, from what `--json` wrote: time and peak memory at the
    largest size against the bare COPY, with the DESIGN.md §7 goal's two halves (judged
    only at 1,000,000 responses, as print_report does)."""
    largest = data["results"][-1]
    ours, bare = largest["ours"], largest["baseline"]
    responses = largest["seeded"]["responses"]
    rows: list[dict[str, Any]] = []
    for field, name, unit, limit, what in (
        ("seconds", "time", "s", GOAL_SECONDS, f"{GOAL_SECONDS:.0f} s"),
        ("peak_mib", "peak memory", "MiB", GOAL_MIB, f"{GOAL_MIB:.0f} MB"),
    ):
        if largest["size"] == GOAL_SIZE:
            verdict = "MET" if ours[field] < limit else "MISSED"
        else:
            verdict = f"not run (largest {largest['size']:,})"
        rows.append(
            {
                "benchmark": "export",
                "figure": f"{name} for {responses:,} responses, vs bare COPY",
                "ours": ours[field],
                "baseline": bare[field],
                "unit": unit,
                "ratio": ours[field] / bare[field],
                "goal": f"< {what} at {GOAL_SIZE:,}: {verdict}",
            }
        )
    return rows


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k only")
    parser.add_argument("--sizes", help="comma-separated response counts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    if options.sizes:
        options.sizes = [int(s) for s in options.sizes.split(",")]
    else:
        options.sizes = [10_000, 100_000] if options.quick else [10_000, 100_000, 1_000_000]
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    folder = Path(tempfile.mkdtemp(prefix="peerlink-bench-export-"))
    # Enrolments are spread over the 150 days before this; the export reads the clock.
    now = dt.datetime.now(dt.UTC)
    extra = {"load_before": sms_inbound.loadavg(), "commit": sms_inbound.commit()}
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        log("starting PostgreSQL and Redis; migrating the template database")
        postgres, redis = scheduler.start_servers(stack, worker_env, TEMPLATE)
        admin = postgres.url("postgres")
        for size in options.sizes:
            database = f"peerlink_export_{size}"
            scheduler.create_from_template(admin, database, TEMPLATE)
            results.append(
                measure(size, worker_env(postgres.url(database), redis.url), folder, now)
            )
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{database}"')
            for leftover in folder.iterdir():
                shutil.rmtree(leftover, ignore_errors=True)
        extra["load_after"] = sms_inbound.loadavg()
        extra["versions"] = scheduler.versions(admin, redis.url)
    print_report(results, extra)
    if options.json:
        options.json.write_text(json.dumps({"results": results, **extra}, indent=2))
    problems = [p for r in results for p in checks(r)]
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
