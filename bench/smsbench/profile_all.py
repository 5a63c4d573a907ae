"""Summarise a py-spy raw profile of the server over all its threads at once.

    python bench/smsbench/profile_all.py PROFILE.txt [--top 30] [--match TEXT] [--active]
                                         [--frames messaging/,people/]

Django runs each sync view of an ASGI request on a thread of its own (asgiref's
ThreadSensitiveContext), so a profile of the inbound SMS benchmark holds thousands of
short-lived threads; bench/chatbench/profile_top.py's per-thread summary does not add them up.
This prints the functions with the most inclusive and self samples over every thread whose
stack contains TEXT (e.g. `TwilioInboundView`), as shares of those samples. `--active` drops
samples whose leaf is a wait (select/poll/lock), as `py-spy record` without `--idle` would.
`--frames` lists (inclusive) only frames in files under those folders: our own code, by line.
With a `--gil` profile (what bench/sms_inbound.py --profile records), the shares are of the
server's Python CPU time.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chatbench"))

from profile_top import parse, where

WAITS = (
    "select (selectors.py",
    "poll (selectors.py",
    "wait (threading.py",
    "_worker (concurrent/futures/thread.py:81)",  # an idle pool thread
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="")
    parser.add_argument("--active", action="store_true")
    parser.add_argument("--frames", default="", help="comma-separated path prefixes")
    options = parser.parse_args()
    stacks = [
        (frames, count)
        for _, frames, count in parse(options.profile)
        if frames and options.match in ";".join(frames)
    ]
    if options.active:
        stacks = [(f, c) for f, c in stacks if not f[-1].startswith(WAITS)]
    total = sum(count for _, count in stacks)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} samples (all threads){f' containing {options.match!r}' * bool(options.match)}")
    prefixes = tuple(f"({p}" for p in options.frames.split(",") if p)
    shown = [
        (f, n) for f, n in inclusive.most_common() if not prefixes or any(p in f for p in prefixes)
    ]
    print(f"-- inclusive (top {options.top})")
    for frame, count in shown[: options.top]:
        print(f"  {count / total:6.1%}  {where(frame)}")
    print(f"-- self (top {options.top})")
    for frame, count in own.most_common(options.top):
        print(f"  {count / total:6.1%}  {where(frame)}")


if __name__ == "__main__":
    main()
