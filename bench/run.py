"""`make bench`: run every benchmark in bench/ and print its table.

Each benchmark runs our path and a baseline side by side in the same run and reports the
ratio; figures are recorded with the machine in docs/performance.md.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHMARKS = ["encryption.py"]


def main() -> int:
    here = Path(__file__).resolve().parent
    for name in BENCHMARKS:
        print(f"== bench/{name}")
        sys.argv = [str(here / name)]
        runpy.run_path(str(here / name), run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
