"""Precision and recall of a lexicon on the labelled evaluation set
(`evaluation/risk_messages.csv`, described in `evaluation/README.md`)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from messaging.risk.detection import Lexicon, screen

EVALUATION_SET = Path(__file__).resolve().parent / "evaluation" / "risk_messages.csv"
LABELS = ("risk", "ordinary")


class EvaluationSetError(ValueError):
    pass


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    label: str
    kind: str
    text: str


@dataclass
class Scores:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        risky = self.true_positive + self.false_negative
        return self.true_positive / risky if risky else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def total(self) -> int:
        return self.true_positive + self.false_positive + self.false_negative + self.true_negative


SPLITS = ("all", "development", "held-out")


def in_split(example: Example, split: str) -> bool:
    """Odd-numbered messages are for tuning the lexicon ("development"); even-numbered ones
    are never looked at while tuning ("held-out"), so their figures say how the lexicon does
    on wording it was not written against."""
    if split == "all":
        return True
    odd = int(example.id.rsplit("-", 1)[-1]) % 2 == 1
    return odd if split == "development" else not odd


def read_examples(path: Path = EVALUATION_SET) -> list[Example]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    examples = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):
        if set(row) != {"id", "language", "label", "kind", "text"} or None in row.values():
            raise EvaluationSetError(f"line {number}: expected id,language,label,kind,text")
        if row["label"] not in LABELS:
            raise EvaluationSetError(f"line {number}: the label is risk or ordinary")
        if row["id"] in seen:
            raise EvaluationSetError(f"line {number}: the id {row['id']} is repeated")
        if not row["id"].rsplit("-", 1)[-1].isdigit():
            raise EvaluationSetError(f"line {number}: an id ends in a number (en-001)")
        seen.add(row["id"])
        examples.append(Example(**row))
    return examples


def evaluate(
    examples: Iterable[Example], lexicons_for: Callable[[str], list[Lexicon]]
) -> dict[str, Scores]:
    """Scores per language and overall ("all"); each message is screened with the lexicons
    the service would use for a person of that language."""
    scores: dict[str, Scores] = defaultdict(Scores)
    for example in examples:
        flagged = screen(example.text, lexicons_for(example.language)).is_risk
        risky = example.label == "risk"
        for key in (example.language, "all"):
            bucket = scores[key]
            if flagged and risky:
                bucket.true_positive += 1
            elif flagged:
                bucket.false_positive += 1
                bucket.false_alarms.append(f"{example.id} ({example.kind})")
            elif risky:
                bucket.false_negative += 1
                bucket.missed.append(f"{example.id} ({example.kind})")
            else:
                bucket.true_negative += 1
    return dict(scores)
