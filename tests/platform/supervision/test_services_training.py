"""record_training: programme admins record the courses peer supporters and supervisors have
completed; an expiry must come after completion; entering a completion again changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from programmes.models import Role
from supervision.models import TrainingRecord
from supervision.services import record_training
from tests.platform.supervision.helpers import TODAY
from tests.support.factories import World, make_programme, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def train(world: World, frozen_now: Any) -> Callable[..., Any]:
    def record(**overrides: Any) -> Any:
        arguments: dict[str, Any] = {
            "programme": world.programme,
            "user_id": world.peer.id,
            "course_code": "PS-101",
            "course_title": "Foundations of peer support",
            "completed_on": dt.date(2025, 5, 1),
            "certified_until": dt.date(2027, 5, 1),
            "recorded_by": world.admin,
            **overrides,
        }
        return record_training(**arguments)

    return record


def _written() -> tuple[int, int]:
    return (
        TrainingRecord.objects.count(),
        AuditEntry.objects.filter(action="training_record.created").count(),
    )


def test_an_admin_records_a_peer_supporters_course(world: World, train: Any) -> None:
    recorded = train()
    stored = TrainingRecord.objects.get()
    assert recorded.created and recorded.record.pk == stored.pk
    assert (stored.user_id, stored.programme_id, stored.recorded_by_id) == (
        world.peer.id,
        world.programme.id,
        world.admin.id,
    )
    assert (stored.course_code, stored.completed_on, stored.certified_until) == (
        "PS-101",
        dt.date(2025, 5, 1),
        dt.date(2027, 5, 1),
    )


def test_supervisors_training_is_recorded_too(world: World, train: Any) -> None:
    assert train(user_id=world.supervisor.id).created


def test_a_course_may_certify_without_expiry(train: Any) -> None:
    assert train(certified_until=None).record.certified_until is None


def test_a_course_completed_today_is_accepted(train: Any) -> None:
    assert train(completed_on=TODAY, certified_until=None).created


def test_recording_training_is_audited_with_ids_and_codes(world: World, train: Any) -> None:
    recorded = train()
    entry = AuditEntry.objects.get(action="training_record.created")
    assert (entry.actor_id, entry.target_id) == (world.admin.id, str(recorded.record.pk))
    assert entry.details == {
        "programme": world.programme.slug,
        "user": world.peer.id,
        "course_code": "PS-101",
        "completed_on": "2025-05-01",
        "certified_until": "2027-05-01",
    }


def test_entering_the_same_completion_again_changes_nothing(train: Any) -> None:
    first = train()
    before = _written()
    again = train()
    assert (again.record.pk, again.created) == (first.record.pk, False)
    assert _written() == before


def test_the_same_completion_with_other_details_is_a_conflict(train: Any) -> None:
    train()
    before = _written()
    with pytest.raises(Conflict) as refused:
        train(certified_until=dt.date(2028, 5, 1))
    assert (refused.value.code, refused.value.http_status) == ("training_record_exists", 409)
    assert _written() == before
    assert TrainingRecord.objects.get().certified_until == dt.date(2027, 5, 1)


def test_a_renewal_is_a_new_record(train: Any) -> None:
    train()
    train(completed_on=dt.date(2026, 3, 1), certified_until=dt.date(2028, 3, 1))
    assert TrainingRecord.objects.count() == 2


BAD_TRAINING: list[tuple[str, Callable[[World], dict[str, Any]], str]] = [
    (
        "expiry before completion",
        lambda w: {"certified_until": dt.date(2025, 4, 30)},
        "expiry_before_completion",
    ),
    (
        "expiry on the day of completion",
        lambda w: {"certified_until": dt.date(2025, 5, 1)},
        "expiry_before_completion",
    ),
    (
        "completed tomorrow",
        lambda w: {"completed_on": TODAY + dt.timedelta(days=1), "certified_until": None},
        "completed_in_future",
    ),
    ("completion as text", lambda w: {"completed_on": "2025-05-01"}, "invalid_date"),
    (
        "expiry as a datetime",
        lambda w: {"certified_until": dt.datetime(2027, 5, 1)},
        "invalid_date",
    ),
    ("an evaluator", lambda w: {"user_id": w.evaluator.id}, "not_peer_supporter_or_supervisor"),
    ("an admin", lambda w: {"user_id": w.admin.id}, "not_peer_supporter_or_supervisor"),
    (
        "a service user",
        lambda w: {"user_id": w.own.participant.user.id},
        "not_peer_supporter_or_supervisor",
    ),
    (
        "a peer of another programme",
        lambda w: {"user_id": make_staff(make_programme("elsewhere"), Role.PEER_SUPPORTER).id},
        "not_peer_supporter_or_supervisor",
    ),
    ("an unknown user", lambda w: {"user_id": 10**9}, "not_peer_supporter_or_supervisor"),
    (
        "a user id as text",
        lambda w: {"user_id": str(w.peer.id)},
        "not_peer_supporter_or_supervisor",
    ),
    ("an empty course code", lambda w: {"course_code": ""}, "invalid_course_code"),
    ("a course code with spaces", lambda w: {"course_code": "PS 101"}, "invalid_course_code"),
    ("a course code too long", lambda w: {"course_code": "C" * 41}, "invalid_course_code"),
    ("a blank title", lambda w: {"course_title": "  "}, "invalid_course_title"),
    ("a title too long", lambda w: {"course_title": "t" * 201}, "invalid_course_title"),
    ("a title with NUL", lambda w: {"course_title": "a\x00b"}, "invalid_course_title"),
]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [(o, c) for _, o, c in BAD_TRAINING],
    ids=[n for n, _, _ in BAD_TRAINING],
)
def test_bad_training_is_refused_with_its_code_and_writes_nothing(
    world: World, train: Any, overrides: Callable[[World], dict[str, Any]], code: str
) -> None:
    arguments = overrides(world)
    with pytest.raises(DomainError) as refused:
        train(**arguments)
    assert (refused.value.code, refused.value.http_status) == (code, 400)
    assert _written() == (0, 0)


@pytest.mark.parametrize("who", ["supervisor", "peer", "evaluator"])
def test_only_programme_admins_record_training(world: World, train: Any, who: str) -> None:
    with pytest.raises(DomainError) as refused:
        train(recorded_by=getattr(world, who))
    assert (refused.value.code, refused.value.http_status) == ("forbidden", 403)
    assert _written() == (0, 0)
