"""`make bench`: run every benchmark in bench/, print its table, then one summary table.

Each benchmark runs our path and a baseline side by side in the same run and reports the
ratio; figures are recorded with the machine in docs/performance.md.

    python bench/run.py [--quick] [ONLY...]

`--quick` is passed to the benchmarks that take it (a smaller, shorter run); naming
benchmarks (e.g. `chat`) runs only those. `make bench BENCH_ARGS=--quick` does the same.

Each benchmark also writes its raw results (`--json`); its own `summary(data)`, next to its
print_report, turns them into headline rows: a figure for our path and for the baseline, the
ratio ours/baseline and the DESIGN.md goal where the benchmark judges one. At the end, one
markdown table of every benchmark's rows (a failed benchmark is listed as failed), and
bench/results/latest.json: the rows, the machine, the commit, the date and every benchmark's
raw results (as the benchmarks write them: a lost latency is `Infinity`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import runpy
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"

# name -> takes --quick (every one takes --json FILE)
BENCHMARKS = {
    "encryption.py": False,
    "risk_screen.py": True,
    "chat.py": True,
    "sms_inbound.py": True,
    "scheduler.py": True,
    "export.py": True,
}
# The name the benchmarks are imported under to call their helpers: anything but
# "__main__", so that importing one does not run it.
IMPORT_NAME = "peerlink_bench_summary"
ROW_KEYS = ("benchmark", "figure", "ours", "baseline", "unit", "ratio")


def helper(name: str, function: str) -> Callable[..., Any]:
    """A function of bench/NAME, imported without running the benchmark."""
    module = runpy.run_path(str(HERE / name), run_name=IMPORT_NAME)
    found: Callable[..., Any] = module[function]
    return found


def run_benchmark(name: str, argv: list[str]) -> str | None:
    """Runs bench/NAME in this process as `python bench/NAME ARGV` would; None when it
    succeeded, else how it failed."""
    sys.argv = [str(HERE / name), *argv]
    try:
        runpy.run_path(str(HERE / name), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return f"exit status {exc.code}"
    except Exception as exc:
        traceback.print_exc()
        return describe(exc)
    return None


def describe(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {first[0]}" if first else "")


def summarise(name: str, data: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = helper(name, "summary")(data)
    for row in rows:
        missing = [key for key in ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"{name}: summary row without {', '.join(missing)}: {row}")
    return rows


def numbers(*values: float | None) -> list[str]:
    """The values of one row, with the same decimals (those its largest value needs)."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    size = max(finite, default=0.0)
    if size >= 100 or all(isinstance(v, int) for v in values if v is not None):
        decimals = 0
    else:
        decimals = 1 if size >= 10 else 2 if size >= 1 else 3
    return [
        "-" if v is None or math.isnan(v) else "inf" if math.isinf(v) else f"{v:,.{decimals}f}"
        for v in values
    ]


def ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.3f}" if abs(value) < 0.1 else f"{value:.2f}"


def table(sections: dict[str, tuple[str | None, list[dict[str, Any]]]]) -> list[str]:
    """A markdown table (it pastes into docs/performance.md), padded to read in a terminal:
    each benchmark's rows, in the order they ran, after a FAILED row for one that failed.
    `sections`: benchmark -> (how it failed or None, its summary rows)."""
    header = ["benchmark", "figure", "ours", "baseline", "unit", "ours/baseline", "goal"]
    right = [False, False, True, True, False, True, False]
    cells: list[list[str]] = []
    for bench, (failure, rows) in sections.items():
        if failure is not None:
            cells.append([bench, f"FAILED: {failure}", "-", "-", "", "-", ""])
        cells += [
            [
                str(row["benchmark"]),
                str(row["figure"]),
                *numbers(row["ours"], row["baseline"]),
                str(row["unit"]),
                ratio(row["ratio"]),
                str(row.get("goal") or ""),
            ]
            for row in rows
        ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: list[str]) -> str:
        padded = (
            value.rjust(width) if align else value.ljust(width)
            for value, width, align in zip(values, widths, right, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(
        "-" * (width - 1) + ":" if align else "-" * width
        for width, align in zip(widths, right, strict=True)
    )
    return [line(header), rule + " |", *(line(values) for values in cells)]


def context() -> dict[str, str]:
    """The machine and the commit measured, as the benchmarks report them."""
    found = {}
    for key, name, function in (
        ("machine", "chat.py", "machine"),
        ("commit", "sms_inbound.py", "commit"),
    ):
        try:
            found[key] = str(helper(name, function)())
        except Exception as exc:
            found[key] = f"unknown ({describe(exc)})"
    return found


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    only = {a if a.endswith(".py") else f"{a}.py" for a in argv if not a.startswith("-")}
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    about = context()
    # benchmark -> (how it failed or None, its summary rows, its raw results)
    ran: dict[str, tuple[str | None, list[dict[str, Any]], Any]] = {}
    with tempfile.TemporaryDirectory(prefix="peerlink-bench-run-") as folder:
        for name, takes_quick in BENCHMARKS.items():
            if only and name not in only:
                continue
            bench = Path(name).stem
            print(f"== bench/{name}", flush=True)
            out = Path(folder) / f"{bench}.json"
            args = (["--quick"] if quick and takes_quick else []) + ["--json", str(out)]
            failure = run_benchmark(name, args)
            data, rows = None, []
            try:
                if out.exists():
                    data = json.loads(out.read_text())
                    rows = summarise(name, data)
                elif failure is None:
                    failure = f"wrote no results ({out.name})"
            except Exception as exc:
                traceback.print_exc()
                failure = failure or f"summary failed: {describe(exc)}"
            ran[bench] = (failure, rows, data)
            print(flush=True)
    failed = [bench for bench, (failure, _, _) in ran.items() if failure is not None]
    print("== summary", flush=True)
    print(f"machine: {about['machine']}")
    print(f"commit: {about['commit']}; {started:%Y-%m-%d %H:%M} UTC{'; --quick' if quick else ''}")
    print("\n".join(table({bench: (failure, rows) for bench, (failure, rows, _) in ran.items()})))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "date": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - clock, 1),
        "machine": about["machine"],
        "commit": about["commit"],
        "quick": quick,
        "rows": [row for _, rows, _ in ran.values() for row in rows],
        "failed": {bench: ran[bench][0] for bench in failed},
        "results": {bench: data for bench, (_, _, data) in ran.items()},
    }
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"written: {RESULTS.relative_to(HERE.parent)}", flush=True)
    if failed:
        print(f"failed: {', '.join(f'{bench}.py' for bench in failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
