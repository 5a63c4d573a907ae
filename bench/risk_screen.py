"""Crisis screening: our detector (normalisation, spellings, negation, exclusions, the
compiled lexicon) vs the least a lexicon check could cost, a case-insensitive substring scan
of the same phrases. Both screen the labelled evaluation set's messages, in English and
French, with the shipped lexicons; every participant message on the chat and SMS paths pays
our path once (messaging/actions/participant_message.py).

    python bench/risk_screen.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerlink.settings.test")

import django  # noqa: E402

django.setup()

from messaging.risk.detection import screen  # noqa: E402
from messaging.risk.evaluate import read_examples  # noqa: E402
from messaging.risk.lexicon import read_lexicon_file, shipped_files, shipped_lexicon  # noqa: E402

ROUNDS = 20 if "--quick" in sys.argv else 200


def main() -> None:
    examples = read_examples()
    lexicons = {language: shipped_lexicon(language) for language in ("en", "fr")}
    phrases: dict[str, list[str]] = {}
    for path in shipped_files():
        language, entries = read_lexicon_file(path)
        phrases[language] = [e.text.lower() for e in entries if e.kind == "phrase"]
    texts = [(e.language, e.text) for e in examples]

    start = time.perf_counter()
    ours_flagged = 0
    for _ in range(ROUNDS):
        for language, text in texts:
            ours_flagged += screen(text, [lexicons[language]]).is_risk
    ours = time.perf_counter() - start

    start = time.perf_counter()
    naive_flagged = 0
    for _ in range(ROUNDS):
        for language, text in texts:
            lowered = text.lower()
            naive_flagged += any(phrase in lowered for phrase in phrases[language])
    naive = time.perf_counter() - start

    screened = ROUNDS * len(texts)
    print(f"messages screened per path: {screened:,} ({len(texts)} distinct, {ROUNDS} rounds)")
    print(f"{'path':<34}{'messages/s':>12}{'us/message':>12}{'flagged':>9}")
    for name, seconds, flagged in (
        ("ours (detection.screen)", ours, ours_flagged // ROUNDS),
        ("baseline (substring scan)", naive, naive_flagged // ROUNDS),
    ):
        print(
            f"{name:<34}{screened / seconds:>12,.0f}{seconds / screened * 1e6:>12.1f}{flagged:>9}"
        )
    print(f"ratio ours/baseline (throughput): {naive / ours:.3f}")


if __name__ == "__main__":
    main()
