"""`make bench`: run every benchmark in bench/ and print its table.

Each benchmark runs our path and a baseline side by side in the same run and reports the
ratio; figures are recorded with the machine in docs/performance.md.

    python bench/run.py [--quick] [ONLY...]

`--quick` is passed to the benchmarks that take it (a smaller, shorter run); naming
benchmarks (e.g. `chat`) runs only those. `make bench BENCH_ARGS=--quick` does the same.
"""

from __future__ import annotations

import runpy
import sys
import traceback
from pathlib import Path

# name -> takes --quick
BENCHMARKS = {
    "encryption.py": False,
    "risk_screen.py": True,
    "chat.py": True,
    "sms_inbound.py": True,
    "scheduler.py": True,
    "export.py": True,
}


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    quick = "--quick" in argv
    only = {a if a.endswith(".py") else f"{a}.py" for a in argv if not a.startswith("-")}
    failed = []
    for name, takes_quick in BENCHMARKS.items():
        if only and name not in only:
            continue
        print(f"== bench/{name}", flush=True)
        sys.argv = [str(here / name)] + (["--quick"] if quick and takes_quick else [])
        try:
            runpy.run_path(str(here / name), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
