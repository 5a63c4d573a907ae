"""The instrument file format (YAML or JSON): one version of a questionnaire as data. The
shape is the JSON Schema in outcomes/instruments/schema.json (documented in
docs/outcomes.md); what a schema cannot say (keys that must exist, bands that must not
overlap, answers that must not be ambiguous) is checked here. Built-in instruments are the
files next to the schema."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

INSTRUMENTS = Path(__file__).resolve().parent / "instruments"
BUILT_IN = ("phq9", "gad7", "who5")


class InstrumentFileError(ValueError):
    """What is wrong with an instrument file, naming the field (never a person's data)."""


@dataclass(frozen=True)
class OptionSpec:
    value: int
    label: dict[str, str]
    answers: dict[str, tuple[str, ...]]

    def accepted(self, language: str) -> set[str]:
        """The SMS answers that choose this option, normalised: its value, its label and
        the extra answers, in that language."""
        words = (str(self.value), self.label.get(language, ""), *self.answers.get(language, ()))
        return {normalise_answer(word) for word in words if word}


@dataclass(frozen=True)
class ItemSpec:
    key: str
    text: dict[str, str]
    options: tuple[OptionSpec, ...]
    reverse: bool
    scored: bool

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(option.value for option in self.options)


@dataclass(frozen=True)
class ScoreSpec:
    key: str  # "total", or the subscale's key
    label: str
    method: str  # sum | mean
    items: tuple[str, ...]
    multiplier: float
    max_missing: int
    decimals: int


@dataclass(frozen=True)
class BandSpec:
    min: float
    max: float
    label: str


@dataclass(frozen=True)
class RiskRuleSpec:
    item: str
    above: int
    severity: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class InstrumentSpec:
    slug: str
    version: str
    name: str
    languages: tuple[str, ...]
    licence: str
    citation: str
    stem: dict[str, str]
    items: tuple[ItemSpec, ...]
    total: ScoreSpec
    subscales: tuple[ScoreSpec, ...]
    bands: tuple[BandSpec, ...]
    risk: tuple[RiskRuleSpec, ...]
    document: dict[str, Any]

    def item(self, key: str) -> ItemSpec:
        return next(item for item in self.items if item.key == key)

    @property
    def content_hash(self) -> str:
        """Of the document as parsed: a re-import of the same content is recognised as such,
        whatever the file's layout."""
        canonical = json.dumps(self.document, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((INSTRUMENTS / "schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def normalise_answer(text: str) -> str:
    """How an SMS answer is compared with the accepted ones: case, width, surrounding spaces
    and a trailing full stop ignored."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    return folded.rstrip(".!").strip()


def _option(raw: dict[str, Any]) -> OptionSpec:
    answers = {lang: tuple(words) for lang, words in raw.get("answers", {}).items()}
    return OptionSpec(value=raw["value"], label=dict(raw["label"]), answers=answers)


def _score(raw: dict[str, Any], *, key: str, scored: tuple[str, ...]) -> ScoreSpec:
    return ScoreSpec(
        key=key,
        label=raw.get("label", key),
        method=raw["method"],
        items=tuple(raw.get("items", scored)),
        multiplier=float(raw.get("multiplier", 1)),
        max_missing=raw.get("max_missing", 0),
        decimals=raw.get("decimals", 2 if raw["method"] == "mean" else 0),
    )


def _check_languages(spec: InstrumentSpec) -> None:
    def complete(texts: dict[str, str], where: str) -> None:
        missing = sorted(set(spec.languages) - set(texts))
        if missing:
            raise InstrumentFileError(f"{where} has no text in {missing}")

    if spec.stem:
        complete(spec.stem, "stem")
    for item in spec.items:
        complete(item.text, f"item {item.key}")
        for option in item.options:
            complete(option.label, f"item {item.key}, option {option.value}")


def _check_items(spec: InstrumentSpec) -> None:
    keys = [item.key for item in spec.items]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InstrumentFileError(f"item keys are repeated: {repeated}")
    for item in spec.items:
        if len(set(item.values)) != len(item.values):
            raise InstrumentFileError(f"item {item.key}: option values are repeated")
        for language in spec.languages:
            seen: dict[str, int] = {}
            for option in item.options:
                for word in option.accepted(language):
                    if seen.setdefault(word, option.value) != option.value:
                        raise InstrumentFileError(
                            f"item {item.key}: the answer {word!r} ({language}) names two options"
                        )


def _check_scores(spec: InstrumentSpec) -> None:
    by_key = {item.key: item for item in spec.items}
    for score in (spec.total, *spec.subscales):
        unknown = sorted(set(score.items) - set(by_key))
        if unknown:
            raise InstrumentFileError(f"score {score.key} names unknown items {unknown}")
        unscored = sorted(key for key in score.items if not by_key[key].scored)
        if unscored:
            raise InstrumentFileError(f"score {score.key} counts unscored items {unscored}")
        if score.max_missing >= len(score.items):
            raise InstrumentFileError(f"score {score.key}: max_missing must leave an item")
    subscale_keys = [s.key for s in spec.subscales]
    if len(set(subscale_keys)) != len(subscale_keys) or "total" in subscale_keys:
        raise InstrumentFileError("subscale keys must be unique and not 'total'")


def total_range(spec: InstrumentSpec) -> tuple[float, float]:
    """The lowest and highest total a complete answer set can score."""
    lows = [min(spec.item(key).values) for key in spec.total.items]
    highs = [max(spec.item(key).values) for key in spec.total.items]
    if spec.total.method == "mean":
        low, high = sum(lows) / len(lows), sum(highs) / len(highs)
    else:
        low, high = float(sum(lows)), float(sum(highs))
    return low * spec.total.multiplier, high * spec.total.multiplier


def _check_bands(spec: InstrumentSpec) -> None:
    if not spec.bands:
        return
    for band in spec.bands:
        if band.min > band.max:
            raise InstrumentFileError(f"band {band.label!r}: min is above max")
    for lower, upper in zip(spec.bands, spec.bands[1:], strict=False):
        if upper.min <= lower.max:
            raise InstrumentFileError(
                f"bands {lower.label!r} and {upper.label!r} overlap or are out of order"
            )
    low, high = total_range(spec)
    if spec.bands[0].min > low or spec.bands[-1].max < high:
        raise InstrumentFileError(f"the bands must cover every total from {low:g} to {high:g}")


def _check_risk(spec: InstrumentSpec) -> None:
    by_key = {item.key: item for item in spec.items}
    for rule in spec.risk:
        if rule.item not in by_key:
            raise InstrumentFileError(f"risk rule names an unknown item {rule.item!r}")
        if rule.above >= max(by_key[rule.item].values):
            raise InstrumentFileError(f"risk rule on {rule.item} can never fire")


def parse_instrument(document: Any) -> InstrumentSpec:
    """The instrument a parsed YAML or JSON document describes, or InstrumentFileError."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "the file"
        raise InstrumentFileError(f"{where}: {first.message}")
    shared = tuple(_option(raw) for raw in document.get("options", ()))
    items = []
    for raw in document["items"]:
        options = tuple(_option(o) for o in raw["options"]) if "options" in raw else shared
        if not options:
            raise InstrumentFileError(f"item {raw['key']} has no options (and none are shared)")
        items.append(
            ItemSpec(
                key=raw["key"],
                text=dict(raw["text"]),
                options=options,
                reverse=raw.get("reverse", False),
                scored=raw.get("scored", True),
            )
        )
    scored = tuple(item.key for item in items if item.scored)
    if not scored:
        raise InstrumentFileError("no item is scored")
    scoring = document["scoring"]
    spec = InstrumentSpec(
        slug=document["instrument"],
        version=document["version"],
        name=document["name"],
        languages=tuple(document["languages"]),
        licence=document.get("licence", ""),
        citation=document.get("citation", ""),
        stem=dict(document.get("stem", {})),
        items=tuple(items),
        total=_score(scoring["total"], key="total", scored=scored),
        subscales=tuple(
            _score(raw, key=raw["key"], scored=scored) for raw in scoring.get("subscales", ())
        ),
        bands=tuple(BandSpec(b["min"], b["max"], b["label"]) for b in scoring.get("bands", ())),
        risk=tuple(
            RiskRuleSpec(r["item"], r["above"], r["severity"], tuple(r["categories"]))
            for r in document.get("risk", ())
        ),
        document=document,
    )
    _check_items(spec)
    _check_languages(spec)
    _check_scores(spec)
    _check_bands(spec)
    _check_risk(spec)
    return spec


def read_instrument_file(path: Path) -> InstrumentSpec:
    """YAML or JSON (JSON is YAML). Dates and other YAML types the schema has no place for
    are refused by it."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InstrumentFileError(f"not valid YAML or JSON{where}") from None
    return parse_instrument(document)


def built_in(slug: str) -> InstrumentSpec:
    return read_instrument_file(INSTRUMENTS / f"{slug}.yaml")
