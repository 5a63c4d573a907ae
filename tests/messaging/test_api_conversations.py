"""GET /api/v1/conversations/: each role's list, newest first, unread counts, previews."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from messaging.models import Conversation, ReadMarker
from messaging.services import mark_read, post_message
from people.models import User
from people.selectors import participant_profile
from programmes.models import HandoffReason
from programmes.services import assign_peer_supporter
from tests.support.factories import World, enrol, signed_in_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def _conversation(world: World, which: str = "own") -> Conversation:
    return Conversation.objects.get(enrolment=getattr(world, which))


def _say(conversation: Conversation, sender: User | None, body: str, role: str) -> int:
    posted = post_message(
        conversation_id=conversation.pk,
        sender=sender,
        sender_role=role,
        channel="web" if sender is not None else "automated",
        body=body,
        client_id=uuid.uuid4().hex,
    )
    return posted.message.seq


def _peer_says(world: World, body: str = "hello", which: str = "own") -> int:
    return _say(_conversation(world, which), world.peer, body, "peer_supporter")


def _person_says(world: World, body: str = "hi", which: str = "own") -> int:
    enrolment = getattr(world, which)
    return _say(_conversation(world, which), enrolment.participant.user, body, "participant")


def _rows(user: Any) -> list[dict[str, Any]]:
    response = signed_in_client(user).get(URL)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _ids(user: Any) -> set[str]:
    return {row["id"] for row in _rows(user)}


def test_a_peer_supporter_sees_only_their_caseload(world: World) -> None:
    assert _ids(world.peer) == {str(_conversation(world).id)}
    assert _ids(world.other_peer) == {str(_conversation(world, "others").id)}


def test_a_service_user_sees_only_their_own_conversation(world: World) -> None:
    assert _ids(world.own.participant.user) == {str(_conversation(world).id)}


def test_a_supervisor_sees_the_team_caseload_and_the_waiting_queue(world: World) -> None:
    waiting = enrol(world.programme, by=world.admin)
    expected = {str(_conversation(world).id), str(Conversation.objects.get(enrolment=waiting).id)}
    assert _ids(world.supervisor) == expected


@pytest.mark.parametrize("who", ["admin", "evaluator"])
def test_admins_and_evaluators_get_an_empty_list(world: World, who: str) -> None:
    assert _rows(getattr(world, who)) == []


def test_anonymous_callers_are_refused(world: World) -> None:
    response = Client().get(URL)
    assert response.status_code == 403
    assert set(response.json()) >= {"code", "message"}


def test_a_row_names_the_person_their_peer_supporter_and_channel(world: World) -> None:
    [row] = _rows(world.peer)
    assert row["enrolment"] == str(world.own.id)
    assert row["programme"] == world.programme.slug
    assert row["participant"]["display_name"] == participant_profile(world.own.participant).name
    assert row["participant"]["preferred_channel"] == world.own.participant.preferred_channel
    assert row["peer_supporter"]["id"] == world.peer.id
    assert row["can_post"] is True


def test_the_service_user_sees_their_own_name(world: World) -> None:
    [row] = _rows(world.own.participant.user)
    assert row["participant"]["display_name"] == participant_profile(world.own.participant).name


def test_an_unassigned_conversation_has_no_peer_supporter(world: World) -> None:
    enrol(world.programme, by=world.admin)
    rows = [row for row in _rows(world.supervisor) if row["enrolment"] != str(world.own.id)]
    assert [row["peer_supporter"] for row in rows] == [None]


def test_newest_activity_comes_first_and_silent_conversations_last(world: World) -> None:
    waiting = enrol(world.programme, by=world.admin)
    quiet = Conversation.objects.get(enrolment=waiting)
    _peer_says(world)
    older = _conversation(world)
    newer_enrolment = enrol(world.programme, by=world.admin)
    assign_peer_supporter(
        enrolment=newer_enrolment,
        peer_supporter=world.peer,
        assigned_by=world.supervisor,
        reason=HandoffReason.INITIAL,
    )
    newer = Conversation.objects.get(enrolment=newer_enrolment)
    _say(newer, world.peer, "later", "peer_supporter")
    Conversation.objects.filter(pk=older.pk).update(
        last_message_at=timezone.now() - dt.timedelta(hours=1)
    )
    order = [row["id"] for row in _rows(world.supervisor)]
    assert order == [str(newer.id), str(older.id), str(quiet.id)]


def test_last_seq_and_last_activity_time_are_shown(world: World) -> None:
    _peer_says(world)
    _person_says(world)
    [row] = _rows(world.peer)
    conversation = _conversation(world)
    assert row["last_seq"] == 2
    assert row["last_message_at"] == conversation.last_message_at.isoformat()


def test_a_silent_conversation_has_no_activity_time_and_no_preview(world: World) -> None:
    [row] = _rows(world.peer)
    assert (row["last_seq"], row["last_message_at"], row["preview"], row["unread"]) == (
        0,
        None,
        None,
        0,
    )


def test_unread_counts_messages_from_others_after_the_read_marker(world: World) -> None:
    _person_says(world)
    _person_says(world)
    _person_says(world)
    [row] = _rows(world.peer)
    assert row["unread"] == 3
    mark_read(conversation=_conversation(world), user=world.peer, seq=2)
    [row] = _rows(world.peer)
    assert row["unread"] == 1


def test_unread_never_counts_the_callers_own_messages(world: World) -> None:
    _person_says(world)
    _peer_says(world)
    _peer_says(world)
    assert _rows(world.peer)[0]["unread"] == 1
    assert _rows(world.own.participant.user)[0]["unread"] == 2


def test_automated_messages_count_as_unread(world: World) -> None:
    _say(_conversation(world), None, "a supportive text", "system")
    assert _rows(world.own.participant.user)[0]["unread"] == 1


def test_unread_is_per_member(world: World) -> None:
    _person_says(world)
    _peer_says(world)
    conversation = _conversation(world)
    mark_read(conversation=conversation, user=world.own.participant.user, seq=2)
    assert _rows(world.peer)[0]["unread"] == 1
    assert _rows(world.own.participant.user)[0]["unread"] == 0
    assert ReadMarker.objects.filter(conversation=conversation).count() == 1


def test_members_see_a_preview_of_the_last_message(world: World) -> None:
    _peer_says(world, "first message")
    _person_says(world, "the latest thing I said")
    assert _rows(world.peer)[0]["preview"] == "the latest thing I said"
    assert _rows(world.own.participant.user)[0]["preview"] == "the latest thing I said"


def test_the_preview_is_cut_at_80_characters(world: World) -> None:
    _person_says(world, "é" * 79 + "xyz")
    assert _rows(world.peer)[0]["preview"] == "é" * 79 + "x"


def test_supervisors_get_no_preview(world: World) -> None:
    _person_says(world, "something private")
    [row] = _rows(world.supervisor)
    assert row["preview"] is None
    assert row["can_post"] is False
    assert row["last_seq"] == 1


def test_a_supervisors_list_is_audited_without_names(world: World) -> None:
    _rows(world.supervisor)
    entry = AuditEntry.objects.get(action="conversations.listed")
    assert entry.actor_id == world.supervisor.id
    assert entry.details == {"count": 1, "reviewed": 1}


def test_a_members_own_list_is_not_audited(world: World) -> None:
    _rows(world.peer)
    assert not AuditEntry.objects.filter(action="conversations.listed").exists()


def test_a_handed_off_conversation_leaves_the_old_peers_list(world: World) -> None:
    assign_peer_supporter(
        enrolment=world.own,
        peer_supporter=world.other_peer,
        assigned_by=world.supervisor,
        reason=HandoffReason.LEAVE,
    )
    assert _ids(world.peer) == set()
    assert str(_conversation(world).id) in _ids(world.other_peer)


def test_the_query_count_does_not_grow_with_the_number_of_conversations(
    world: World, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _person_says(world)
    client = signed_in_client(world.peer)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(URL).json()) == 1
    for n in range(6):
        enrolment = enrol(world.programme, by=world.admin, name=f"Person {n}")
        assign_peer_supporter(
            enrolment=enrolment,
            peer_supporter=world.peer,
            assigned_by=world.supervisor,
            reason=HandoffReason.INITIAL,
        )
        conversation = Conversation.objects.get(enrolment=enrolment)
        _say(conversation, enrolment.participant.user, f"message {n}", "participant")
        mark_read(conversation=conversation, user=world.peer, seq=1)
    with django_assert_max_num_queries(len(one.captured_queries)):
        rows = client.get(URL).json()
    assert len(rows) == 7
    assert all(row["preview"] for row in rows)
