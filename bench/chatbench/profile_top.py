"""Summarise a py-spy raw profile (`py-spy record --threads --idle -f raw`) of the server.

    python bench/chatbench/profile_top.py PROFILE.txt [--top 25] [--match TEXT]

Prints, per thread, how its samples split between running and idle, then the functions with
the most inclusive samples (time spent in them and below) and the most self samples, each
with file:line as py-spy saw it. `--match` keeps only stacks that contain TEXT.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.+) \((?P<where>[^()]*)\)$")
IDLE_LEAVES = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py:81)",
    "wait (threading.py",
    "poll (selectors.py",
    "run_forever",
)


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        stacks.append((frames[0], frames[1:], int(count)))
    return stacks


def where(frame: str) -> str:
    match = FRAME.match(frame)
    return f"{match['function']}  {match['where']}" if match else frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="")
    options = parser.parse_args()
    stacks = [s for s in parse(options.profile) if options.match in ";".join(s[1])]
    per_thread: Counter[str] = Counter()
    for thread, _, count in stacks:
        per_thread[thread] += count
    total = sum(per_thread.values())
    print(f"{total} samples")
    for thread, count in per_thread.most_common():
        print(f"  {count:>7} {count / total:6.1%}  {thread}")
    for thread, thread_total in per_thread.most_common():
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        for name, frames, count in stacks:
            if name != thread or not frames:
                continue
            for frame in set(frames):
                inclusive[frame] += count
            own[frames[-1]] += count
        print(f"\n== {thread}: {thread_total} samples; inclusive (top {options.top})")
        for frame, count in inclusive.most_common(options.top):
            print(f"  {count / thread_total:6.1%}  {where(frame)}")
        print(f"-- self (top {options.top})")
        for frame, count in own.most_common(options.top):
            print(f"  {count / thread_total:6.1%}  {where(frame)}")


if __name__ == "__main__":
    main()
