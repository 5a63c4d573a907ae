"""The supervisor's team view: workload per peer supporter from the record (metadata only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine
from django.test import Client

from audit.models import AuditEntry
from messaging.models import Conversation, SenderRole
from messaging.services import mark_read, post_message
from messaging.workload import peer_workload
from staffing.services import set_working_hours
from tests.support.factories import World, enrol, signed_in_client

MONDAY_NOON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _post(conversation: Conversation, sender: Any, role: str, client_id: str) -> None:
    post_message(
        conversation_id=conversation.pk,
        sender=sender,
        sender_role=role,
        channel="web",
        body="hello there",
        client_id=client_id,
    )


def _conversation(world: World) -> Conversation:
    return Conversation.objects.get(enrolment=world.own)


def test_the_caseload_and_capacity_are_counted(world: World) -> None:
    row = peer_workload(world.peer, world.programme)
    assert (row["active_caseload"], row["capacity"]) == (1, 15)
    assert row["peer_supporter"]["id"] == world.peer.pk


def test_unread_counts_the_persons_messages_after_the_peers_read_marker(world: World) -> None:
    conversation = _conversation(world)
    person = world.own.participant.user
    for n in range(3):
        _post(conversation, person, SenderRole.PARTICIPANT, f"p{n}")
    assert peer_workload(world.peer, world.programme)["unread"] == 3
    mark_read(conversation=conversation, user=world.peer, seq=2)
    assert peer_workload(world.peer, world.programme)["unread"] == 1


def test_the_median_first_response_is_from_the_first_unanswered_message(world: World) -> None:
    conversation = _conversation(world)
    person = world.own.participant.user
    with time_machine.travel(MONDAY_NOON, tick=False) as clock:
        _post(conversation, person, SenderRole.PARTICIPANT, "a")
        clock.shift(dt.timedelta(minutes=5))
        _post(conversation, person, SenderRole.PARTICIPANT, "b")  # still the same wait
        clock.shift(dt.timedelta(minutes=5))
        _post(conversation, world.peer, SenderRole.PEER_SUPPORTER, "reply-1")  # 10 min
        clock.shift(dt.timedelta(hours=1))
        _post(conversation, person, SenderRole.PARTICIPANT, "c")
        clock.shift(dt.timedelta(minutes=30))
        _post(conversation, world.peer, SenderRole.PEER_SUPPORTER, "reply-2")  # 30 min
        clock.shift(dt.timedelta(minutes=30))
        _post(conversation, person, SenderRole.PARTICIPANT, "d")
        clock.shift(dt.timedelta(minutes=50))
        _post(conversation, world.peer, SenderRole.PEER_SUPPORTER, "reply-3")  # 50 min
        row = peer_workload(world.peer, world.programme)
    assert row["median_first_response_minutes"] == 30.0


def test_no_replies_means_no_median(world: World) -> None:
    _post(_conversation(world), world.own.participant.user, SenderRole.PARTICIPANT, "a")
    assert peer_workload(world.peer, world.programme)["median_first_response_minutes"] is None


def test_messages_outside_working_hours_are_counted_in_the_peers_time_zone(
    world: World,
) -> None:
    set_working_hours(
        user=world.peer,
        working_hours={"mon": ["09:00", "17:00"]},
        time_zone="America/Edmonton",
        changed_by=None,
    )
    conversation = _conversation(world)
    # 12:00 UTC is 05:00 in Edmonton (outside); 18:00 UTC is 11:00 (inside).
    with time_machine.travel(MONDAY_NOON, tick=False) as clock:
        _post(conversation, world.peer, SenderRole.PEER_SUPPORTER, "early")
        clock.shift(dt.timedelta(hours=6))
        _post(conversation, world.peer, SenderRole.PEER_SUPPORTER, "in-hours")
        row = peer_workload(world.peer, world.programme)
    assert row["messages_outside_working_hours"] == 1
    assert row["messages_per_week"] == 0.5  # two messages over four weeks


def test_messages_older_than_the_window_are_not_counted(world: World) -> None:
    conversation = _conversation(world)
    with time_machine.travel(MONDAY_NOON - dt.timedelta(days=40), tick=False):
        _post(conversation, world.peer, SenderRole.PEER_SUPPORTER, "old")
    with time_machine.travel(MONDAY_NOON, tick=False):
        assert peer_workload(world.peer, world.programme)["messages_per_week"] == 0.0


def test_a_supervisor_sees_their_team_and_the_waiting_queue(world: World) -> None:
    enrol(world.programme, by=world.admin)  # nobody assigned: waiting
    response = signed_in_client(world.supervisor).get(
        f"/api/v1/programmes/{world.programme.slug}/workload/"
    )
    assert response.status_code == 200
    body = response.json()
    assert [row["peer_supporter"]["id"] for row in body["peer_supporters"]] == [world.peer.pk]
    assert body["waiting"] >= 1
    assert body["alerts"] == {"open": 0, "acknowledged": 0, "items": []}


def test_an_admin_sees_every_peer_supporter_of_the_programme(world: World) -> None:
    response = signed_in_client(world.admin).get(
        f"/api/v1/programmes/{world.programme.slug}/workload/"
    )
    ids = {row["peer_supporter"]["id"] for row in response.json()["peer_supporters"]}
    assert ids == {world.peer.pk, world.other_peer.pk}


def test_viewing_the_workload_is_audited(world: World) -> None:
    signed_in_client(world.supervisor).get(f"/api/v1/programmes/{world.programme.slug}/workload/")
    entry = AuditEntry.objects.filter(action="workload.viewed").get()
    assert entry.actor_id == world.supervisor.pk


def test_the_workload_holds_no_message_text(world: World) -> None:
    conversation = _conversation(world)
    _post(conversation, world.own.participant.user, SenderRole.PARTICIPANT, "p")
    response = signed_in_client(world.supervisor).get(
        f"/api/v1/programmes/{world.programme.slug}/workload/"
    )
    assert "hello there" not in response.content.decode()


def test_an_unknown_programme_is_not_found(world: World) -> None:
    response = signed_in_client(world.supervisor).get("/api/v1/programmes/nope/workload/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_gets_403() -> None:
    assert Client().get("/api/v1/programmes/trial/workload/").status_code == 403
