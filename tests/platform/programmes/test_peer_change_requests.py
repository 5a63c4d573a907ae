"""A service user asks for a different peer supporter: one open request at a time, audited,
answered by a supervisor's handoff (reason `request`) or a decline; the person is never told
who comes next."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from people.selectors import participant_profile
from programmes import services
from programmes.models import (
    CaseloadAssignment,
    Enrolment,
    EnrolmentStatus,
    HandoffReason,
    PeerChangeRequest,
    PeerChangeStatus,
    PeerSupporterProfile,
    Programme,
    Role,
    Site,
    StaffRole,
    TeamMembership,
)
from programmes.services import ArmSpec
from tests.platform.staffing.helpers import EVERY_DAY, hours, with_hours
from tests.support.factories import World, enrol, make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

ASK_URL = "/api/v1/me/peer-supporter-change/"


def _ask(world: World, body: dict[str, Any] | None = None) -> Any:
    client = signed_in_client(world.own.participant.user)
    return client.post(ASK_URL, body or {}, content_type="application/json")


def _list_url(world: World) -> str:
    return f"/api/v1/programmes/{world.programme.slug}/peer-change-requests/"


def _handoff(world: World, peer: Any, reason: str = HandoffReason.REQUEST) -> Any:
    return signed_in_client(world.supervisor).post(
        f"/api/v1/enrolments/{world.own.id}/assignments/",
        {"peer_supporter": peer.id, "reason": reason},
        content_type="application/json",
    )


def _decline(world: World, change_id: int, user: Any = None) -> Any:
    return signed_in_client(user or world.supervisor).post(
        f"/api/v1/peer-change-requests/{change_id}/decline/"
    )


def _team_peer(world: World) -> Any:
    """Another peer supporter in the supervisor's team, free to take the person."""
    fresh = make_staff(world.programme, Role.PEER_SUPPORTER)
    team = TeamMembership.objects.get(peer_supporter=world.peer).team
    services.add_to_team(team=team, peer_supporter=fresh)
    return fresh


def _writes() -> tuple[int, int, int]:
    return (
        PeerChangeRequest.objects.count(),
        CaseloadAssignment.objects.count(),
        AuditEntry.objects.count(),
    )


def test_asking_creates_an_open_request(world: World) -> None:
    response = _ask(world, {"reason": "not_a_good_fit"})
    assert response.status_code == 201
    change = PeerChangeRequest.objects.get()
    assert (change.enrolment, change.status, change.reason) == (world.own, "open", "not_a_good_fit")
    assert change.assignment.peer_supporter == world.peer
    assert response.json() == {
        "id": change.id,
        "status": "open",
        "reason": "not_a_good_fit",
        "requested_at": change.requested_at.isoformat(),
    }


def test_the_reason_is_optional(world: World) -> None:
    assert _ask(world).status_code == 201
    assert PeerChangeRequest.objects.get().reason == ""


def test_asking_again_while_open_returns_the_open_request(world: World) -> None:
    first = _ask(world, {"reason": "language"})
    second = _ask(world, {"reason": "gender"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert PeerChangeRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="peer_change.requested").count() == 1


def test_asking_is_audited_with_the_reason_code_only(world: World) -> None:
    _ask(world, {"reason": "gender"})
    entry = AuditEntry.objects.get(action="peer_change.requested")
    assert entry.actor_id == world.own.participant.user_id
    assert entry.details == {"enrolment": str(world.own.id), "reason": "gender"}


def test_the_answer_never_names_a_peer_supporter(world: World) -> None:
    _team_peer(world)
    content = _ask(world).content
    for peer in (world.peer, world.other_peer):
        assert peer.first_name.encode() not in content
        assert peer.username.encode() not in content
    assert b"peer_supporter" not in content


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("he was rude", "invalid_reason"),
        ("NOT_A_GOOD_FIT", "invalid_reason"),
        ("x" * 40, "invalid"),
    ],
    ids=["free-text", "wrong-case", "too-long"],
)
def test_a_reason_outside_the_list_is_refused_and_not_echoed(
    world: World, reason: str, code: str
) -> None:
    before = _writes()
    response = _ask(world, {"reason": reason})
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert reason.encode() not in response.content
    assert _writes() == before


def test_a_reason_outside_the_list_is_refused_by_the_service(world: World) -> None:
    with pytest.raises(DomainError) as excinfo:
        services.request_peer_change(
            enrolment=world.own, reason="because", requested_by=world.own.participant.user
        )
    assert excinfo.value.code == "invalid_reason"
    assert not PeerChangeRequest.objects.exists()


def test_someone_without_a_peer_supporter_yet_gets_a_conflict(world: World) -> None:
    waiting = enrol(world.programme)
    before = _writes()
    response = signed_in_client(waiting.participant.user).post(
        ASK_URL, {}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "no_peer_supporter"
    assert _writes() == before


def test_someone_in_an_arm_without_peer_support_gets_a_conflict(world: World) -> None:
    texts_only = enrol(world.programme, peer_support=False)
    response = signed_in_client(texts_only.participant.user).post(
        ASK_URL, {}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "no_peer_supporter"


def test_an_ended_enrolment_cannot_ask(world: World) -> None:
    services.end_enrolment(enrolment=world.own, status=EnrolmentStatus.COMPLETED, ended_by=None)
    with pytest.raises(DomainError) as excinfo:
        services.request_peer_change(
            enrolment=world.own, reason="", requested_by=world.own.participant.user
        )
    assert excinfo.value.code == "enrolment_ended"
    assert _ask(world).status_code == 409


def test_staff_cannot_ask_for_a_different_peer_supporter(world: World) -> None:
    response = signed_in_client(world.peer).post(ASK_URL, {}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_service_user"


def test_someone_in_two_programmes_says_which(world: World) -> None:
    other = make_programme("other", arms=[ArmSpec("peer", "Peer support", True, False, False)])
    other_peer = make_staff(other, Role.PEER_SUPPORTER)
    second = _enrol_same_person(world, other)
    services.assign_peer_supporter(
        enrolment=second, peer_supporter=other_peer, assigned_by=None, reason="initial"
    )
    response = _ask(world)
    assert response.status_code == 400
    assert response.json()["code"] == "enrolment_required"
    response = _ask(world, {"enrolment": str(second.id)})
    assert response.status_code == 201
    assert PeerChangeRequest.objects.get().enrolment == second


def test_naming_someone_elses_enrolment_is_not_found(world: World) -> None:
    response = _ask(world, {"enrolment": str(world.others.id)})
    assert response.status_code == 404
    assert not PeerChangeRequest.objects.exists()


# Supervisors answer


def test_supervisors_list_open_requests(world: World) -> None:
    _ask(world, {"reason": "language"})
    change = PeerChangeRequest.objects.get()
    rows = signed_in_client(world.supervisor).get(_list_url(world)).json()
    assert rows == [
        {
            "id": change.id,
            "enrolment": str(world.own.id),
            "site": "north",
            "language": "en",
            "peer_supporter": {"id": world.peer.id, "display_name": world.peer.first_name},
            "reason": "language",
            "status": "open",
            "requested_at": change.requested_at.isoformat(),
            "handled_by": None,
            "handled_at": None,
        }
    ]


def test_a_supervisor_sees_only_requests_about_their_team(world: World) -> None:
    services.request_peer_change(
        enrolment=world.others, reason="", requested_by=world.others.participant.user
    )
    assert signed_in_client(world.supervisor).get(_list_url(world)).json() == []
    assert len(signed_in_client(world.admin).get(_list_url(world)).json()) == 1


def test_a_peer_supporter_cannot_list_requests(world: World) -> None:
    _ask(world)
    assert signed_in_client(world.peer).get(_list_url(world)).status_code == 403


def test_a_handoff_for_the_request_closes_it(world: World) -> None:
    fresh = _team_peer(world)
    _ask(world, {"reason": "not_a_good_fit"})
    response = _handoff(world, fresh)
    assert response.status_code == 201
    change = PeerChangeRequest.objects.get()
    assert change.status == PeerChangeStatus.HANDLED
    assert (change.handled_by, change.handoff_id) == (world.supervisor, response.json()["id"])
    assert change.handoff is not None
    assert change.handled_at == change.handoff.started_at
    entry = AuditEntry.objects.get(action="peer_change.handled")
    assert entry.details == {"enrolment": str(world.own.id), "handoff": change.handoff_id}
    assert signed_in_client(world.supervisor).get(_list_url(world)).json() == []


def test_after_a_handoff_the_person_may_ask_again(world: World) -> None:
    _ask(world)
    _handoff(world, _team_peer(world))
    assert _ask(world).status_code == 201
    assert PeerChangeRequest.objects.filter(status="open").count() == 1


def test_a_refused_handoff_leaves_the_request_open(world: World) -> None:
    fresh = _team_peer(world)
    PeerSupporterProfile.objects.filter(user=fresh).update(capacity=0)
    _ask(world)
    before = _writes()
    response = _handoff(world, fresh)
    assert response.status_code == 409
    assert PeerChangeRequest.objects.get().status == PeerChangeStatus.OPEN
    assert _writes() == before


def test_a_handoff_for_another_reason_leaves_the_request_open(world: World) -> None:
    _ask(world)
    _handoff(world, _team_peer(world), reason=HandoffReason.LEAVE)
    assert PeerChangeRequest.objects.get().status == PeerChangeStatus.OPEN


def test_a_supervisor_declines_a_request(world: World) -> None:
    _ask(world)
    change = PeerChangeRequest.objects.get()
    response = _decline(world, change.id)
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    change.refresh_from_db()
    assert (change.status, change.handled_by, change.handoff) == (
        "declined",
        world.supervisor,
        None,
    )
    assert AuditEntry.objects.filter(action="peer_change.declined").count() == 1
    assert CaseloadAssignment.objects.get(
        enrolment=world.own, ended_at__isnull=True
    ).peer_supporter == (world.peer)


def test_declining_twice_changes_nothing_more(world: World) -> None:
    _ask(world)
    change = PeerChangeRequest.objects.get()
    _decline(world, change.id)
    before = _writes()
    assert _decline(world, change.id).status_code == 200
    assert _writes() == before


def test_a_request_answered_by_a_handoff_cannot_be_declined(world: World) -> None:
    _ask(world)
    _handoff(world, _team_peer(world))
    change = PeerChangeRequest.objects.get()
    response = _decline(world, change.id)
    assert response.status_code == 409
    assert response.json()["code"] == "request_handled"
    with pytest.raises(Conflict):
        services.decline_peer_change(change_request=change, declined_by=world.admin)


def test_a_supervisor_outside_the_team_cannot_decline(world: World) -> None:
    _ask(world)
    change = PeerChangeRequest.objects.get()
    outsider = make_staff(world.programme, Role.SUPERVISOR)
    assert _decline(world, change.id, outsider).status_code == 404
    assert _decline(world, 999_999).status_code == 404
    assert PeerChangeRequest.objects.get().status == "open"


def test_a_request_about_an_ended_enrolment_drops_from_the_list(world: World) -> None:
    _ask(world)
    services.end_enrolment(enrolment=world.own, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    assert signed_in_client(world.supervisor).get(_list_url(world)).json() == []


def test_automation_never_gives_back_the_peer_supporter_they_asked_to_leave(
    world: World,
) -> None:
    fresh = _team_peer(world)
    for peer in (world.peer, world.other_peer):
        with_hours(peer, hours(EVERY_DAY, "00:00", "24:00"), "UTC")
    _ask(world)
    _handoff(world, fresh)
    # As when a peer supporter leaves the programme: their assignment ends, the person waits.
    StaffRole.objects.filter(user=fresh).delete()
    CaseloadAssignment.objects.filter(peer_supporter=fresh).update(ended_at=timezone.now())
    # `world.peer` now has the lightest caseload, but the person asked to leave them.
    assignment = services.auto_assign(enrolment=world.own)
    assert assignment is not None
    assert assignment.peer_supporter == world.other_peer


def _enrol_same_person(world: World, programme: Programme) -> Enrolment:
    profile = participant_profile(world.own.participant)
    return services.enrol_participant(
        programme=programme,
        site=Site.objects.get(programme=programme, code="north"),
        name=profile.name,
        phone=profile.phone,
        language="en",
        time_zone="America/Edmonton",
        enrolled_by=None,
    )
