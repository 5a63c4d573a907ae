"""The waiting queue: ongoing peer-support enrolments with nobody assigned, longest wait first,
for the programme's supervisors and admins, without names or numbers."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from people.selectors import participant_profile
from programmes import services
from programmes.models import CaseloadAssignment, EnrolmentStatus, HandoffReason, Role
from programmes.selectors import waiting_enrolments, waiting_queue_for
from tests.platform.staffing.helpers import utc
from tests.support.factories import World, enrol, make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

T0 = utc("2026-06-08T15:00")


def _url(world: World) -> str:
    return f"/api/v1/programmes/{world.programme.slug}/waiting/"


def test_the_queue_holds_only_ongoing_unassigned_peer_support_enrolments(world: World) -> None:
    waiting = enrol(world.programme)
    paused = enrol(world.programme)
    paused.status = EnrolmentStatus.PAUSED
    paused.save(update_fields=["status"])
    withdrawn = enrol(world.programme)
    services.end_enrolment(enrolment=withdrawn, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    texts_only = enrol(world.programme, peer_support=False)
    queue = set(waiting_enrolments(programme=world.programme))
    # (`enrol` may leave other waiting people behind while it retries for the arm it wants.)
    assert {waiting, paused} <= queue
    assert not {world.own, world.others, withdrawn, texts_only} & queue
    assert all(e.arm.peer_support and e.status in ("active", "paused") for e in queue)


def test_the_longest_wait_comes_first(world: World) -> None:
    with time_machine.travel(T0, tick=False):
        first = enrol(world.programme)
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        second = enrol(world.programme)
    assert list(waiting_enrolments(programme=world.programme)) == [first, second]


def test_a_wait_counts_from_when_the_last_assignment_ended(world: World) -> None:
    with time_machine.travel(T0, tick=False):
        returning = enrol(world.programme)
        services.assign_peer_supporter(
            enrolment=returning,
            peer_supporter=world.peer,
            assigned_by=None,
            reason=HandoffReason.INITIAL,
        )
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        new = enrol(world.programme)
    # As when a peer supporter leaves the programme: the assignment ends, the person waits.
    CaseloadAssignment.objects.filter(enrolment=returning).update(
        ended_at=T0 + dt.timedelta(hours=2)
    )
    queue = list(waiting_enrolments(programme=world.programme))
    assert queue == [new, returning]
    assert queue[1].waiting_since == T0 + dt.timedelta(hours=2)  # type: ignore[attr-defined]


def test_the_endpoint_shows_how_long_each_has_waited(world: World) -> None:
    with time_machine.travel(T0, tick=False):
        person = enrol(world.programme)
    with time_machine.travel(T0 + dt.timedelta(minutes=90), tick=False):
        response = signed_in_client(world.supervisor).get(_url(world))
    assert response.status_code == 200
    assert response.json() == [
        {
            "enrolment": str(person.id),
            "site": "north",
            "language": "en",
            "status": "active",
            "enrolled_at": T0.isoformat(),
            "waiting_since": T0.isoformat(),
            "waited_seconds": 5400,
            "previously_assigned": False,
        }
    ]


def test_the_endpoint_shows_no_name_or_number(world: World) -> None:
    person = enrol(world.programme, name="Quentin Marbleworth")
    profile = participant_profile(person.participant)
    for user in (world.supervisor, world.admin):
        content = signed_in_client(user).get(_url(world)).content
        assert b"Marbleworth" not in content
        assert profile.phone[-4:].encode() not in content


def test_admins_see_the_queue_too(world: World) -> None:
    person = enrol(world.programme)
    rows = signed_in_client(world.admin).get(_url(world)).json()
    assert [row["enrolment"] for row in rows] == [str(person.id)]


def test_another_programmes_queue_is_not_shown(world: World) -> None:
    other = make_programme("other")
    make_staff(other, Role.SUPERVISOR)
    enrol(other)
    assert signed_in_client(world.supervisor).get(_url(world)).json() == []
    assert waiting_queue_for(world.supervisor, programme=other).count() == 0


def test_a_supervisor_of_another_programme_gets_not_found(world: World) -> None:
    outsider = make_staff(make_programme("other"), Role.SUPERVISOR)
    response = signed_in_client(outsider).get(_url(world))
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["peer", "evaluator"])
def test_peer_supporters_and_evaluators_are_refused(world: World, role: str) -> None:
    response = signed_in_client(getattr(world, role)).get(_url(world))
    assert response.status_code == 403
    assert response.json()["code"] in {"forbidden", "permission_denied"}


def test_a_person_leaves_the_queue_once_assigned(world: World) -> None:
    person = enrol(world.programme)
    services.assign_peer_supporter(
        enrolment=person, peer_supporter=world.peer, assigned_by=None, reason=HandoffReason.INITIAL
    )
    assert signed_in_client(world.supervisor).get(_url(world)).json() == []
