"""Synthetic instruments for the tests, one per scoring shape the licensed instruments use
(their wording is not ours to ship): a plain sum, a mean, a sum with reversed items, a mean
with reversed items and subscales, and a multiplied mean that allows missing items."""

from __future__ import annotations

from typing import Any

from outcomes.instrument_format import InstrumentSpec, parse_instrument


def options(low: int, high: int) -> list[dict[str, Any]]:
    return [{"value": v, "label": {"en": f"Choice {v}"}} for v in range(low, high + 1)]


def document(
    slug: str,
    count: int,
    *,
    low: int = 0,
    high: int = 4,
    total: dict[str, Any] | None = None,
    reverse: tuple[int, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """An instrument of `count` items numbered from 1 (key `<slug>_<n>`), all on one scale."""
    return {
        "instrument": slug,
        "version": "1",
        "name": f"Synthetic {slug}",
        "languages": ["en"],
        "options": options(low, high),
        "items": [
            {"key": f"{slug}_{n}", "text": {"en": f"Synthetic item {n}"}, "reverse": n in reverse}
            for n in range(1, count + 1)
        ],
        "scoring": {"total": total or {"method": "sum"}, **extra.pop("scoring", {})},
        **extra,
    }


def instrument(slug: str, count: int, **kwargs: Any) -> InstrumentSpec:
    return parse_instrument(document(slug, count, **kwargs))


def answers(slug: str, values: list[int]) -> dict[str, int]:
    return {f"{slug}_{n}": value for n, value in enumerate(values, start=1)}
