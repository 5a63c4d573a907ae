"""record_fidelity_check: the session's supervisor scores a participant against the active
checklist, every item exactly once and on its scale; a retry changes nothing, a different
second opinion is a conflict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from programmes.models import Role
from supervision.models import FidelityCheck, FidelityChecklist, FidelityScore, SupervisionSession
from supervision.services import (
    ItemSpec,
    create_checklist,
    record_fidelity_check,
    set_checklist_active,
)
from tests.platform.supervision.helpers import full_scores
from tests.support.factories import World, make_programme, make_staff

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., SupervisionSession]


def _check(
    world: World, session: SupervisionSession, checklist: FidelityChecklist, **kw: Any
) -> Any:
    arguments: dict[str, Any] = {
        "session": session,
        "peer_supporter_id": world.peer.id,
        "checklist_id": checklist.pk,
        "scores": full_scores(),
        "recorded_by": world.supervisor,
        **kw,
    }
    return record_fidelity_check(**arguments)


def _written() -> tuple[int, int, int]:
    return (
        FidelityCheck.objects.count(),
        FidelityScore.objects.count(),
        AuditEntry.objects.filter(action="fidelity_check.recorded").count(),
    )


def test_the_sessions_supervisor_scores_a_participant(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    recorded = _check(world, make_session(), checklist)
    check = FidelityCheck.objects.get()
    assert recorded.created and recorded.check.pk == check.pk
    assert (check.peer_supporter_id, check.recorded_by_id) == (world.peer.id, world.supervisor.id)
    assert (check.total, check.max_total, check.percentage) == (6, 8, 75.0)
    assert dict(check.scores.values_list("item__key", "score")) == {
        "listening": 2,
        "boundaries": 1,
        "hope": 3,
    }


def test_the_lowest_and_highest_scores_are_accepted(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    low = _check(
        world, make_session(), checklist, scores=full_scores(listening=0, boundaries=0, hope=0)
    )
    high = _check(
        world, make_session(), checklist, scores=full_scores(listening=2, boundaries=2, hope=4)
    )
    assert (low.check.total, low.check.percentage) == (0, 0.0)
    assert (high.check.total, high.check.percentage) == (8, 100.0)


def test_scores_may_come_in_any_order(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    recorded = _check(world, make_session(), checklist, scores=list(reversed(full_scores())))
    assert recorded.check.total == 6


def test_a_check_is_audited_with_ids_and_totals(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    session = make_session()
    recorded = _check(world, session, checklist)
    entry = AuditEntry.objects.get(action="fidelity_check.recorded")
    assert (entry.actor_id, entry.target_id) == (world.supervisor.id, str(recorded.check.pk))
    assert entry.details == {
        "session": str(session.pk),
        "peer_supporter": world.peer.id,
        "checklist": checklist.pk,
        "version": 1,
        "total": 6,
        "max_total": 8,
    }


def test_each_participant_of_a_group_session_gets_their_own_check(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    session = make_session(kind="group", peer_supporter_ids=[world.peer.id, world.other_peer.id])
    _check(world, session, checklist)
    _check(world, session, checklist, peer_supporter_id=world.other_peer.id)
    assert FidelityCheck.objects.filter(session=session).count() == 2


def test_the_same_scores_again_return_the_first_check(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    session = make_session()
    first = _check(world, session, checklist)
    before = _written()
    again = _check(world, session, checklist)
    assert (again.check.pk, again.created) == (first.check.pk, False)
    assert _written() == before


def test_different_scores_for_a_recorded_check_are_a_conflict(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    session = make_session()
    _check(world, session, checklist)
    before = _written()
    with pytest.raises(Conflict) as refused:
        _check(world, session, checklist, scores=full_scores(hope=4))
    assert (refused.value.code, refused.value.http_status) == ("fidelity_already_recorded", 409)
    assert _written() == before
    assert FidelityCheck.objects.get().total == 6


@pytest.mark.parametrize("who", ["peer", "admin"])
def test_only_the_sessions_supervisor_records_checks(
    world: World, checklist: FidelityChecklist, make_session: MakeSession, who: str
) -> None:
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), checklist, recorded_by=getattr(world, who))
    assert (refused.value.code, refused.value.http_status) == ("not_session_supervisor", 403)
    assert _written() == (0, 0, 0)


def test_another_supervisor_of_the_programme_does_not_score_this_session(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    colleague = make_staff(world.programme, Role.SUPERVISOR)
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), checklist, recorded_by=colleague)
    assert refused.value.code == "not_session_supervisor"
    assert _written() == (0, 0, 0)


@pytest.mark.parametrize("peer", ["other_peer", "supervisor", "unknown", "text"])
def test_only_participants_are_scored(
    world: World, checklist: FidelityChecklist, make_session: MakeSession, peer: str
) -> None:
    peer_id: Any = {"unknown": 10**9, "text": str(world.peer.id)}.get(peer)
    if peer_id is None:
        peer_id = getattr(world, peer).id
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), checklist, peer_supporter_id=peer_id)
    assert refused.value.code == "not_a_participant"
    assert _written() == (0, 0, 0)


def test_a_checklist_of_another_programme_is_unknown(
    world: World, make_session: MakeSession
) -> None:
    elsewhere = make_programme("elsewhere")
    foreign = create_checklist(
        programme=elsewhere,
        name="Core practice",
        items=[ItemSpec("listening", "Listened", 2)],
        created_by=make_staff(elsewhere, Role.ADMIN),
    )
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), foreign, scores=[{"item": "listening", "score": 1}])
    assert refused.value.code == "unknown_checklist"
    assert _written() == (0, 0, 0)


@pytest.mark.parametrize("checklist_id", [10**9, "1", None, True])
def test_an_unknown_checklist_id_is_refused(
    world: World, make_session: MakeSession, checklist: FidelityChecklist, checklist_id: Any
) -> None:
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), checklist, checklist_id=checklist_id)
    assert refused.value.code == "unknown_checklist"


def test_a_retired_checklist_takes_no_new_checks(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    set_checklist_active(checklist=checklist, active=False, changed_by=world.admin)
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), checklist)
    assert refused.value.code == "checklist_inactive"
    assert _written() == (0, 0, 0)


def _scores(**changes: Any) -> list[dict[str, Any]]:
    return [{"item": e["item"], "score": changes.get(e["item"], e["score"])} for e in full_scores()]


BAD_SCORES: list[tuple[str, Any, str]] = [
    ("above the scale", _scores(listening=3), "score_out_of_range"),
    ("above a wider scale", _scores(hope=5), "score_out_of_range"),
    ("below zero", _scores(boundaries=-1), "score_out_of_range"),
    ("a fraction", _scores(hope=1.5), "invalid_score"),
    ("a whole float", _scores(hope=2.0), "invalid_score"),
    ("a number as text", _scores(hope="2"), "invalid_score"),
    ("a boolean", _scores(listening=True), "invalid_score"),
    ("null", _scores(listening=None), "invalid_score"),
    ("an item missing", full_scores()[:2], "missing_item"),
    ("no scores", [], "missing_item"),
    ("an unknown item", [*full_scores(), {"item": "empathy", "score": 1}], "unknown_item"),
    ("an item key that is not text", [*full_scores()[:2], {"item": 3, "score": 1}], "unknown_item"),
    ("an item twice", [*full_scores(), {"item": "hope", "score": 3}], "duplicate_item"),
    ("scores as a mapping", {"listening": 2, "boundaries": 1, "hope": 3}, "invalid_scores"),
    ("an entry that is not an object", [*full_scores()[:2], "hope"], "invalid_scores"),
    ("an entry without a score", [*full_scores()[:2], {"item": "hope"}], "invalid_scores"),
    (
        "an entry with an extra key",
        [*full_scores()[:2], {"item": "hope", "score": 3, "note": "x"}],
        "invalid_scores",
    ),
]


@pytest.mark.parametrize(
    ("scores", "code"), [(s, c) for _, s, c in BAD_SCORES], ids=[n for n, _, _ in BAD_SCORES]
)
def test_bad_scores_are_refused_with_their_code_and_write_nothing(
    world: World, checklist: FidelityChecklist, make_session: MakeSession, scores: Any, code: str
) -> None:
    with pytest.raises(DomainError) as refused:
        _check(world, make_session(), checklist, scores=scores)
    assert (refused.value.code, refused.value.http_status) == (code, 400)
    assert _written() == (0, 0, 0)
