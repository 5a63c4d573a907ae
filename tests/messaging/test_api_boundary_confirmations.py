"""/api/v1/boundary-confirmations/: contact details that peer supporters confirmed sending
(issue 6, item 6), listed for supervision. Peer supporters see their own, supervisors their
team's, programme admins all of the programme's; nobody sees message text here."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from messaging.models import BoundaryConfirmation, Conversation
from messaging.services import PostedMessage, post_as_member
from people.models import User
from programmes import services as programmes
from programmes.models import HandoffReason, Role
from tests.support.factories import World, enrol, make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/boundary-confirmations/"
SECRET = "my own number: 780 555 0123"


def confirm(world: World, peer: User | None = None, body: str = SECRET) -> PostedMessage:
    """A peer supporter sends a message with contact details, confirmed."""
    peer = peer or world.peer
    enrolment = world.own if peer == world.peer else world.others
    conversation = Conversation.objects.get(enrolment=enrolment)
    return post_as_member(
        conversation_id=conversation.pk,
        user=peer,
        channel="web",
        body=body,
        client_id=uuid.uuid4().hex,
        confirm_contact_details=True,
    )


def listing(user: User, **params: Any) -> list[dict[str, Any]]:
    response = signed_in_client(user).get(URL, {"programme": "trial", **params})
    assert response.status_code == 200, response.content[:300]
    rows: list[dict[str, Any]] = response.json()
    return rows


def message_ids(user: User, **params: Any) -> list[str]:
    return [row["message"] for row in listing(user, **params)]


def test_an_item_carries_ids_and_kinds_and_no_text(world: World) -> None:
    posted = confirm(world, body="jane@example.com or 780 555 0123")
    [row] = listing(world.supervisor)
    confirmation = BoundaryConfirmation.objects.get()
    assert row == {
        "id": confirmation.pk,
        "conversation": str(posted.message.conversation_id),
        "message": str(posted.message.pk),
        "seq": 1,
        "peer_supporter": {
            "id": world.peer.pk,
            "display_name": row["peer_supporter"]["display_name"],
        },
        "kinds": ["phone", "email"],
        "created_at": posted.message.created_at.isoformat(),
    }
    assert row["peer_supporter"]["display_name"]
    response = signed_in_client(world.supervisor).get(URL, {"programme": "trial"})
    # Whole fragments, not "780": a database id in the listing may contain those digits.
    assert b"555 0123" not in response.content and b"jane@example" not in response.content


def test_peer_supporters_see_their_own_only(world: World) -> None:
    mine = confirm(world)
    theirs = confirm(world, world.other_peer)
    assert message_ids(world.peer) == [str(mine.message.pk)]
    assert message_ids(world.other_peer) == [str(theirs.message.pk)]


def test_supervisors_see_their_teams_peer_supporters_only(world: World) -> None:
    mine = confirm(world)
    confirm(world, world.other_peer)  # other_peer is in no team of this supervisor
    assert message_ids(world.supervisor) == [str(mine.message.pk)]


def test_a_supervisor_sees_a_peer_who_joins_their_team(world: World) -> None:
    theirs = confirm(world, world.other_peer)
    team = world.supervisor.supervised_teams.get()
    programmes.add_to_team(team=team, peer_supporter=world.other_peer)
    assert message_ids(world.supervisor) == [str(theirs.message.pk)]


def test_another_teams_supervisor_sees_none_of_this_team(world: World) -> None:
    confirm(world)
    other = make_staff(world.programme, Role.SUPERVISOR)
    programmes.create_team(programme=world.programme, name="Other team", supervisor=other)
    assert listing(other) == []


def test_programme_admins_see_every_confirmation_of_the_programme(world: World) -> None:
    first = confirm(world)
    second = confirm(world, world.other_peer)
    assert message_ids(world.admin) == [str(second.message.pk), str(first.message.pk)]


def test_another_programmes_confirmations_are_not_listed(world: World) -> None:
    confirm(world)
    other = make_programme("other")
    peer = make_staff(other, Role.PEER_SUPPORTER)
    admin = make_staff(other, Role.ADMIN)
    enrolment = enrol(other, by=admin)
    programmes.assign_peer_supporter(
        enrolment=enrolment, peer_supporter=peer, assigned_by=admin, reason=HandoffReason.INITIAL
    )
    post_as_member(
        conversation_id=Conversation.objects.get(enrolment=enrolment).pk,
        user=peer,
        channel="web",
        body="@jane_doe",
        client_id="c-1",
        confirm_contact_details=True,
    )
    assert BoundaryConfirmation.objects.count() == 2
    assert len(listing(world.admin)) == 1
    # Staff of one programme do not see the other exists.
    response = signed_in_client(world.admin).get(URL, {"programme": "other"})
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["evaluator", "service_user"])
def test_evaluators_and_service_users_may_not_list(world: World, who: str) -> None:
    confirm(world)
    user = world.evaluator if who == "evaluator" else world.own.participant.user
    response = signed_in_client(user).get(URL, {"programme": "trial"})
    assert response.status_code == 403
    assert set(response.json()) >= {"code", "message"}


def test_an_unknown_programme_is_not_found(world: World) -> None:
    response = signed_in_client(world.supervisor).get(URL, {"programme": "nope"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"programme": "not a slug"},
        {"programme": "trial", "limit": 0},
        {"programme": "trial", "before": "x"},
    ],
)
def test_bad_queries_are_refused(world: World, params: dict[str, Any]) -> None:
    response = signed_in_client(world.supervisor).get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_pages_newest_first_by_before_and_limit(world: World) -> None:
    posted = [confirm(world, body=f"@jane_{n}") for n in range(5)]
    newest_first = [str(p.message.pk) for p in reversed(posted)]
    first_page = listing(world.supervisor, limit=2)
    assert [row["message"] for row in first_page] == newest_first[:2]
    second_page = listing(world.supervisor, limit=2, before=first_page[-1]["id"])
    assert [row["message"] for row in second_page] == newest_first[2:4]
    assert [row["seq"] for row in listing(world.supervisor)] == [5, 4, 3, 2, 1]


def test_filtered_by_peer_supporter(world: World) -> None:
    mine = confirm(world)
    confirm(world, world.other_peer)
    assert message_ids(world.admin, peer_supporter=world.peer.pk) == [str(mine.message.pk)]
    # A filter never widens what a role sees.
    assert message_ids(world.peer, peer_supporter=world.other_peer.pk) == []
