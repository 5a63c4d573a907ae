"""A programme's safety settings: escalation minutes are validated where admins edit them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from programmes.models import validate_escalation_minutes


@pytest.mark.parametrize("minutes", [[10], [10, 20], [1, 2, 3], [1440]])
def test_increasing_whole_minutes_are_accepted(minutes: list[int]) -> None:
    validate_escalation_minutes(minutes)


@pytest.mark.parametrize(
    "minutes",
    [[], [0], [10, 10], [20, 10], [1441], [1.5], ["10"], [True], {"a": 1}, None, 10],
)
def test_anything_else_is_refused(minutes: object) -> None:
    with pytest.raises(ValidationError):
        validate_escalation_minutes(minutes)
