"""Reads narrowed by the requesting user, and the expiring-certification filter with the date
given explicitly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from programmes.models import Role, StaffRole
from supervision import selectors
from supervision.models import FidelityChecklist, SupervisionSession, TrainingRecord
from supervision.services import record_fidelity_check, record_training
from tests.platform.supervision.helpers import TODAY, full_scores
from tests.support.factories import World, make_programme, make_staff

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., SupervisionSession]


def _ids(rows: Any) -> set[Any]:
    return {row.pk for row in rows}


@pytest.fixture
def two_sessions(world: World, make_session: MakeSession) -> tuple[SupervisionSession, ...]:
    """One session with `world.peer`, one with `world.other_peer`."""
    return (
        make_session(peer_supporter_ids=[world.peer.id]),
        make_session(peer_supporter_ids=[world.other_peer.id]),
    )


def test_supervisors_see_every_session_of_their_programme(
    world: World, two_sessions: tuple[SupervisionSession, ...]
) -> None:
    colleague = make_staff(world.programme, Role.SUPERVISOR)
    assert _ids(selectors.sessions_for(colleague, world.programme)) == _ids(two_sessions)


def test_a_peer_supporter_sees_only_the_sessions_they_took_part_in(
    world: World, two_sessions: tuple[SupervisionSession, ...]
) -> None:
    mine, theirs = two_sessions
    assert _ids(selectors.sessions_for(world.peer, world.programme)) == {mine.pk}
    assert _ids(selectors.sessions_for(world.other_peer, world.programme)) == {theirs.pk}


def test_a_group_session_is_listed_once_for_each_viewer(
    world: World, make_session: MakeSession
) -> None:
    session = make_session(kind="group", peer_supporter_ids=[world.peer.id, world.other_peer.id])
    assert [s.pk for s in selectors.sessions_for(world.peer, world.programme)] == [session.pk]
    assert [s.pk for s in selectors.sessions_for(world.supervisor, world.programme)] == [session.pk]


@pytest.mark.parametrize("who", ["admin", "evaluator", "service_user", "anonymous", "outsider"])
def test_everyone_else_sees_no_sessions(
    world: World, two_sessions: tuple[SupervisionSession, ...], who: str
) -> None:
    user: Any = {
        "admin": world.admin,
        "evaluator": world.evaluator,
        "service_user": world.own.participant.user,
        "anonymous": AnonymousUser(),
        "outsider": make_staff(make_programme("elsewhere"), Role.SUPERVISOR),
    }[who]
    assert not selectors.visible_sessions(user).exists()


def test_a_peer_supporter_who_leaves_the_programme_no_longer_sees_its_sessions(
    world: World, two_sessions: tuple[SupervisionSession, ...]
) -> None:
    StaffRole.objects.filter(user=world.peer, role=Role.PEER_SUPPORTER).delete()
    assert not selectors.visible_sessions(world.peer).exists()


def test_sessions_are_listed_newest_first(world: World, make_session: MakeSession) -> None:
    older = make_session(held_on=TODAY - dt.timedelta(days=14))
    newer = make_session(held_on=TODAY - dt.timedelta(days=7))
    listed = [s.pk for s in selectors.sessions_for(world.supervisor, world.programme)]
    assert listed == [newer.pk, older.pk]


def test_a_peer_sees_only_their_own_fidelity_checks(
    world: World, make_session: MakeSession, checklist: FidelityChecklist
) -> None:
    session = make_session(kind="group", peer_supporter_ids=[world.peer.id, world.other_peer.id])
    for peer in (world.peer, world.other_peer):
        record_fidelity_check(
            session=session,
            peer_supporter_id=peer.id,
            checklist_id=checklist.pk,
            scores=full_scores(),
            recorded_by=world.supervisor,
        )
    own = selectors.fidelity_checks_for(world.peer, session)
    assert [c.peer_supporter_id for c in own] == [world.peer.id]
    everyone = selectors.fidelity_checks_for(world.supervisor, session)
    assert {c.peer_supporter_id for c in everyone} == {world.peer.id, world.other_peer.id}


def _training(world: World, user: Any, code: str, completed: dt.date, until: dt.date | None) -> Any:
    return record_training(
        programme=world.programme,
        user_id=user.id,
        course_code=code,
        course_title="A course",
        completed_on=completed,
        certified_until=until,
        recorded_by=world.admin,
    ).record


def test_supervisors_and_admins_see_everyones_training_and_a_peer_their_own(
    world: World, frozen_now: Any
) -> None:
    mine = _training(world, world.peer, "PS-101", dt.date(2025, 1, 1), None)
    theirs = _training(world, world.other_peer, "PS-101", dt.date(2025, 1, 1), None)
    for viewer in (world.supervisor, world.admin):
        assert _ids(selectors.training_records_for(viewer, world.programme)) == {
            mine.pk,
            theirs.pk,
        }
    assert _ids(selectors.training_records_for(world.peer, world.programme)) == {mine.pk}


@pytest.fixture
def certifications(world: World, frozen_now: Any) -> dict[str, TrainingRecord]:
    """Certifications around AS_OF = TODAY: expired yesterday, expiring today, in 30 and in 31
    days, and one without expiry."""
    done = dt.date(2024, 1, 1)
    return {
        "expired": _training(world, world.peer, "EXPIRED", done, TODAY - dt.timedelta(days=1)),
        "today": _training(world, world.peer, "TODAY", done, TODAY),
        "in_30": _training(world, world.other_peer, "IN-30", done, TODAY + dt.timedelta(days=30)),
        "in_31": _training(world, world.other_peer, "IN-31", done, TODAY + dt.timedelta(days=31)),
        "never": _training(world, world.supervisor, "NEVER", done, None),
    }


def _expiring(world: World, days: int, as_of: dt.date = TODAY) -> list[str]:
    rows = selectors.training_records_for(
        world.supervisor, world.programme, expiring_within_days=days, as_of=as_of
    )
    return [r.course_code for r in rows]


def test_expiring_within_n_days_lists_the_expired_and_those_due_in_n_days(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    assert _expiring(world, 30) == ["EXPIRED", "TODAY", "IN-30"]


def test_expiring_within_zero_days_lists_what_has_expired_or_expires_today(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    assert _expiring(world, 0) == ["EXPIRED", "TODAY"]


def test_the_expiry_window_moves_with_the_date(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    assert _expiring(world, 0, as_of=TODAY + dt.timedelta(days=31)) == [
        "EXPIRED",
        "TODAY",
        "IN-30",
        "IN-31",
    ]


def test_a_renewed_certification_is_no_longer_listed(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    _training(world, world.peer, "EXPIRED", TODAY - dt.timedelta(days=3), TODAY.replace(year=2028))
    assert _expiring(world, 30) == ["TODAY", "IN-30"]


def test_a_renewal_that_expires_soon_is_listed_by_its_newest_completion(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    renewal = _training(
        world, world.peer, "EXPIRED", TODAY - dt.timedelta(days=3), TODAY + dt.timedelta(days=5)
    )
    rows = selectors.training_records_for(
        world.supervisor, world.programme, expiring_within_days=30, as_of=TODAY
    )
    assert renewal.pk in _ids(rows)
    assert certifications["expired"].pk not in _ids(rows)


def test_a_peer_sees_only_their_own_expiring_certifications(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    rows = selectors.training_records_for(
        world.peer, world.programme, expiring_within_days=30, as_of=TODAY
    )
    assert [r.course_code for r in rows] == ["EXPIRED", "TODAY"]


def test_the_payload_counts_days_to_expiry(
    world: World, certifications: dict[str, TrainingRecord]
) -> None:
    days = {
        name: selectors.training_payload(record, today=TODAY)["expires_in_days"]
        for name, record in certifications.items()
    }
    assert days == {"expired": -1, "today": 0, "in_30": 30, "in_31": 31, "never": None}
