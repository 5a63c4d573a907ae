"""Random fidelity payloads: never a server error, never a partial write. Whatever is refused
leaves no check, no score and no audit entry behind."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from supervision.models import FidelityCheck, FidelityChecklist, FidelityScore, SupervisionSession
from supervision.services import programme_today, record_session
from tests.support.factories import World, signed_in_client

pytestmark = pytest.mark.django_db

KEYS = ["listening", "boundaries", "hope"]

# Beyond a bigint, either way: the database can't compare them.
huge = st.sampled_from([2**63, 2**70, -(2**63) - 1])
scores_values = st.one_of(
    st.integers(min_value=-3, max_value=6),
    st.integers(),
    huge,
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)
score_entry = st.one_of(
    st.fixed_dictionaries(
        {"item": st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), "score": scores_values}
    ),
    st.dictionaries(
        st.sampled_from(["item", "score", "note"]),
        st.one_of(st.sampled_from(KEYS), scores_values),
        max_size=3,
    ),
    st.text(max_size=5),
    st.integers(),
    st.none(),
)
payloads = st.one_of(
    st.fixed_dictionaries(
        {
            "peer_supporter": st.one_of(st.just("PEER"), st.integers(), huge, st.text(max_size=3)),
            "checklist": st.one_of(st.just("CHECKLIST"), st.integers(), huge, st.none()),
            "scores": st.one_of(
                st.lists(score_entry, max_size=5),
                st.dictionaries(st.sampled_from(KEYS), scores_values, max_size=3),
                scores_values,
            ),
        }
    ),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=10),
    st.none(),
)


def _resolve(payload: Any, world: World, checklist: FidelityChecklist) -> Any:
    """Put the world's real ids where the strategy drew placeholders, so that many payloads
    get as far as the score rules."""
    if not isinstance(payload, dict):
        return payload
    resolved = dict(payload)
    if resolved.get("peer_supporter") == "PEER":
        resolved["peer_supporter"] = world.peer.id
    if resolved.get("checklist") == "CHECKLIST":
        resolved["checklist"] = checklist.pk
    return resolved


def _written() -> tuple[int, int, int]:
    return (
        FidelityCheck.objects.count(),
        FidelityScore.objects.count(),
        AuditEntry.objects.filter(action="fidelity_check.recorded").count(),
    )


@pytest.fixture
def session(world: World) -> SupervisionSession:
    return record_session(
        programme=world.programme,
        supervisor=world.supervisor,
        recorded_by=world.supervisor,
        held_on=programme_today(world.programme),
        kind="individual",
        duration_minutes=30,
        peer_supporter_ids=[world.peer.id],
        notes="",
        client_id="fuzz",
    ).session


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=payloads)
def test_random_fidelity_payloads_never_cause_a_server_error_or_a_partial_write(
    world: World, session: SupervisionSession, checklist: FidelityChecklist, payload: Any
) -> None:
    before = _written()
    response = signed_in_client(world.supervisor).post(
        f"/api/v1/supervision/sessions/{session.pk}/fidelity/",
        _resolve(payload, world, checklist),
        content_type="application/json",
    )
    assert response.status_code in (200, 201, 400, 409), response.content[:300]
    assert {"code", "message"} <= set(response.json()) or response.status_code < 300
    after = _written()
    if response.status_code == 201:
        assert after == (before[0] + 1, before[1] + len(KEYS), before[2] + 1)
    else:
        assert after == before
