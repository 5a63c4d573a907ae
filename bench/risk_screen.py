"""Crisis screening: our detector (normalisation, spellings, negation, exclusions, the
compiled lexicon) vs the least a lexicon check could cost, a case-insensitive substring scan
of the same phrases. Both screen the labelled evaluation set's messages, in English and
French, with the shipped lexicons; every participant message on the chat and SMS paths pays
our path once (messaging/actions/participant_message.py).

    python bench/risk_screen.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerlink.settings.test")

import django  # noqa: E402

django.setup()

from messaging.risk.detection import screen  # noqa: E402
from messaging.risk.evaluate import read_examples  # noqa: E402
from messaging.risk.lexicon import read_lexicon_file, shipped_files, shipped_lexicon  # noqa: E402


def figures(seconds: float, screened: int, flagged: int) -> dict[str, float]:
    return {
        "seconds": seconds,
        "per_second": screened / seconds,
        "us_per_message": seconds / screened * 1e6,
        "flagged": flagged,
    }


def print_report(data: dict[str, Any]) -> None:
    print(
        f"messages screened per path: {data['screened']:,} ({data['distinct']} distinct, "
        f"{data['rounds']} rounds)"
    )
    print(f"{'path':<34}{'messages/s':>12}{'us/message':>12}{'flagged':>9}")
    for name, path in (
        ("ours (detection.screen)", data["ours"]),
        ("baseline (substring scan)", data["baseline"]),
    ):
        print(
            f"{name:<34}{path['per_second']:>12,.0f}{path['us_per_message']:>12.1f}"
            f"{path['flagged']:>9}"
        )
    print(
        "ratio ours/baseline (throughput): "
        f"{data['baseline']['seconds'] / data['ours']['seconds']:.3f}"
    )


def summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run.py's summary rows, from what `--json` wrote."""
    ours, base = data["ours"]["per_second"], data["baseline"]["per_second"]
    return [
        {
            "benchmark": "risk_screen",
            "figure": "crisis screening, vs substring scan",
            "ours": ours,
            "baseline": base,
            "unit": "messages/s",
            "ratio": ours / base,
        }
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 rounds instead of 200")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)
    rounds = 20 if options.quick else 200
    examples = read_examples()
    lexicons = {language: shipped_lexicon(language) for language in ("en", "fr")}
    phrases: dict[str, list[str]] = {}
    for path in shipped_files():
        language, entries = read_lexicon_file(path)
        phrases[language] = [e.text.lower() for e in entries if e.kind == "phrase"]
    texts = [(e.language, e.text) for e in examples]

    start = time.perf_counter()
    ours_flagged = 0
    for _ in range(rounds):
        for language, text in texts:
            ours_flagged += screen(text, [lexicons[language]]).is_risk
    ours = time.perf_counter() - start

    start = time.perf_counter()
    naive_flagged = 0
    for _ in range(rounds):
        for language, text in texts:
            lowered = text.lower()
            naive_flagged += any(phrase in lowered for phrase in phrases[language])
    naive = time.perf_counter() - start

    screened = rounds * len(texts)
    data = {
        "rounds": rounds,
        "distinct": len(texts),
        "screened": screened,
        "ours": figures(ours, screened, ours_flagged // rounds),
        "baseline": figures(naive, screened, naive_flagged // rounds),
    }
    print_report(data)
    if options.json is not None:
        options.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
