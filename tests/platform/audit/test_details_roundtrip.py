"""Whatever JSON-able details are recorded, the stored entry still verifies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from audit.selectors import verify_chain
from audit.services import record

# What record() accepts: text without NUL or lone surrogates (jsonb refuses both), no floats
# (jsonb rewrites some, which would break the stored hash). Refusals are tested below.
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
scalars = st.none() | st.booleans() | st.integers() | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
details_strategy = st.dictionaries(text, json_values, max_size=5)


@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(details=details_strategy)
def test_recorded_details_round_trip_and_verify(db: None, details: dict[str, Any]) -> None:
    # One savepoint per example, rolled back, so that each example starts from an empty log.
    with transaction.atomic():
        entry = record(action="test.details", details=details)

        stored = AuditEntry.objects.get(pk=entry.pk)
        assert stored.details == json.loads(json.dumps(details))
        report = verify_chain()
        assert report.intact, report
        transaction.set_rollback(True)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bad=st.sampled_from([1.5, 1e16, -0.0, "a\x00b", "\ud800", object(), b"bytes", {1: "x"}]))
def test_details_that_would_not_survive_storage_are_refused_and_nothing_is_written(
    db: None, bad: object
) -> None:
    from audit.services import InvalidAuditDetails

    before = AuditEntry.objects.count()
    with pytest.raises(InvalidAuditDetails) as excinfo:
        record(action="test.details", details={"nested": [{"value": bad}]})
    assert "details.nested[0].value" in str(excinfo.value)
    assert AuditEntry.objects.count() == before
