"""Scoring an answer set against its instrument: totals, subscales, the severity band, and
which risk rules it trips. Pure functions over the parsed instrument, so that the survey
sessions, the export and the tests share one arithmetic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from outcomes.instrument_format import InstrumentSpec, RiskRuleSpec, ScoreSpec


class InvalidAnswer(ValueError):
    """An answer that is not one of the item's option values (the message names the item
    and the accepted values, never the answer given)."""


@dataclass(frozen=True)
class ScaleScore:
    key: str
    value: float | None  # None: too many items missing to score
    answered: int
    missing: int


@dataclass(frozen=True)
class ScoreResult:
    total: ScaleScore
    subscales: tuple[ScaleScore, ...]
    band: str | None
    complete: bool  # every scored item answered
    risk: tuple[RiskRuleSpec, ...]


def _check(spec: InstrumentSpec, answers: Mapping[str, int]) -> None:
    known = {item.key: item for item in spec.items}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise InvalidAnswer(f"{spec.slug} has no items {unknown}")
    for key, value in answers.items():
        if isinstance(value, bool) or value not in known[key].values:
            raise InvalidAnswer(f"{key} takes one of {sorted(known[key].values)}")


def _item_value(spec: InstrumentSpec, key: str, value: int) -> int:
    item = spec.item(key)
    if item.reverse:
        return min(item.values) + max(item.values) - value
    return value


def _round(value: float, decimals: int) -> float:
    # Half up, as the instruments' manuals round (Python's round() rounds half to even).
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def _scale(spec: InstrumentSpec, score: ScoreSpec, answers: Mapping[str, int]) -> ScaleScore:
    values = [_item_value(spec, key, answers[key]) for key in score.items if key in answers]
    missing = len(score.items) - len(values)
    if not values or missing > score.max_missing:
        return ScaleScore(score.key, None, len(values), missing)
    mean = sum(values) / len(values)
    # A sum with items missing (as far as max_missing allows) is prorated: the mean of the
    # answered items times the number of items.
    raw = mean if score.method == "mean" else mean * len(score.items)
    return ScaleScore(
        score.key, _round(raw * score.multiplier, score.decimals), len(values), missing
    )


def band_of(spec: InstrumentSpec, total: float | None) -> str | None:
    """The band whose range holds the total; between two bands (a mean, a prorated sum), the
    lower band's range is taken to run up to the next band's minimum."""
    if total is None:
        return None
    chosen = None
    for band in spec.bands:
        if total >= band.min:
            chosen = band.label
    return chosen


def tripped_rules(spec: InstrumentSpec, answers: Mapping[str, int]) -> tuple[RiskRuleSpec, ...]:
    """The risk rules the answers trip, partial answer sets included: an answer about
    self-harm counts as soon as it is given."""
    _check(spec, answers)
    return tuple(r for r in spec.risk if r.item in answers and answers[r.item] > r.above)


def score(spec: InstrumentSpec, answers: Mapping[str, int]) -> ScoreResult:
    _check(spec, answers)
    total = _scale(spec, spec.total, answers)
    scored = [item.key for item in spec.items if item.scored]
    return ScoreResult(
        total=total,
        subscales=tuple(_scale(spec, s, answers) for s in spec.subscales),
        band=band_of(spec, total.value),
        complete=all(key in answers for key in scored),
        risk=tripped_rules(spec, answers),
    )
