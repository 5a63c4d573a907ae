"""Constants and plain helpers for the supervision tests (fixtures live in conftest.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

# 2026-03-10 13:00 in Edmonton (MDT): the middle of the programme's working day.
NOW = dt.datetime(2026, 3, 10, 19, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 3, 10)


def full_scores(**overrides: int) -> list[dict[str, Any]]:
    """A valid score for every item of the `checklist` fixture (total 6 of 8 by default)."""
    scores = {"listening": 2, "boundaries": 1, "hope": 3, **overrides}
    return [{"item": key, "score": value} for key, value in scores.items()]
