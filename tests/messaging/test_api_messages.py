"""GET /api/v1/conversations/{id}/messages/ (history by seq cursor) and
POST /api/v1/conversations/{id}/read/ (read marker)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from messaging.models import Conversation, ReadMarker
from messaging.services import post_message
from tests.support.factories import World, enrol, signed_in_client

pytestmark = pytest.mark.django_db


def _conversation(world: World) -> Conversation:
    return Conversation.objects.get(enrolment=world.own)


def _history_url(conversation: Conversation | str) -> str:
    pk = conversation.pk if isinstance(conversation, Conversation) else conversation
    return f"/api/v1/conversations/{pk}/messages/"


def _read_url(conversation: Conversation | str) -> str:
    pk = conversation.pk if isinstance(conversation, Conversation) else conversation
    return f"/api/v1/conversations/{pk}/read/"


def _fill(world: World, count: int) -> Conversation:
    conversation = _conversation(world)
    for n in range(count):
        sender, role = (
            (world.peer, "peer_supporter") if n % 2 else (world.own.participant.user, "participant")
        )
        post_message(
            conversation_id=conversation.pk,
            sender=sender,
            sender_role=role,
            channel="web",
            body=f"message {n + 1}",
            client_id=uuid.uuid4().hex,
        )
    conversation.refresh_from_db()
    return conversation


def _page(user: Any, conversation: Conversation, **params: Any) -> dict[str, Any]:
    response = signed_in_client(user).get(_history_url(conversation), params)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _seqs(page: dict[str, Any]) -> list[int]:
    return [m["seq"] for m in page["messages"]]


def test_without_a_cursor_the_newest_messages_come_in_ascending_order(world: World) -> None:
    conversation = _fill(world, 7)
    page = _page(world.peer, conversation, limit=3)
    assert _seqs(page) == [5, 6, 7]
    assert page["next_after_seq"] == 7
    assert page["next_before_seq"] == 5
    assert page["last_seq"] == 7


def test_after_seq_returns_the_following_messages(world: World) -> None:
    conversation = _fill(world, 7)
    page = _page(world.peer, conversation, after_seq=2, limit=3)
    assert _seqs(page) == [3, 4, 5]
    assert page["next_after_seq"] == 5


def test_following_next_after_seq_reads_everything_once(world: World) -> None:
    conversation = _fill(world, 7)
    seen: list[int] = []
    cursor = 0
    while True:
        page = _page(world.peer, conversation, after_seq=cursor, limit=3)
        if not page["messages"]:
            break
        seen += _seqs(page)
        cursor = page["next_after_seq"]
    assert seen == list(range(1, 8))
    assert cursor == 7


def test_before_seq_pages_backwards_to_the_first_message(world: World) -> None:
    conversation = _fill(world, 7)
    pages = []
    page = _page(world.peer, conversation, limit=3)
    pages.append(_seqs(page))
    while page["next_before_seq"] is not None:
        page = _page(world.peer, conversation, before_seq=page["next_before_seq"], limit=3)
        pages.append(_seqs(page))
    assert pages == [[5, 6, 7], [2, 3, 4], [1]]


def test_an_empty_page_after_the_end_keeps_the_cursor(world: World) -> None:
    conversation = _fill(world, 2)
    page = _page(world.peer, conversation, after_seq=2)
    assert page["messages"] == []
    assert page["next_after_seq"] == 2
    assert page["next_before_seq"] is None


def test_an_empty_conversation_gives_an_empty_page(world: World) -> None:
    page = _page(world.peer, _conversation(world))
    assert page == {"messages": [], "next_after_seq": 0, "next_before_seq": None, "last_seq": 0}


def test_the_default_limit_is_100(world: World) -> None:
    conversation = _fill(world, 105)
    assert _seqs(_page(world.peer, conversation)) == list(range(6, 106))


def test_a_limit_of_500_is_accepted(world: World) -> None:
    conversation = _fill(world, 3)
    assert _seqs(_page(world.peer, conversation, limit=500)) == [1, 2, 3]


def test_messages_are_the_message_objects_of_the_design(world: World) -> None:
    conversation = _fill(world, 2)
    first, second = _page(world.own.participant.user, conversation)["messages"]
    assert set(first) == {"id", "conversation", "seq", "sender", "channel", "body", "created_at"}
    assert first["body"] == "message 1"
    assert first["sender"]["role"] == "participant"
    assert second["sender"] == {
        "id": world.peer.id,
        "role": "peer_supporter",
        "display_name": world.peer.first_name,
    }
    assert first["conversation"] == str(conversation.id)


@pytest.mark.parametrize(
    "params",
    [
        {"after_seq": "-1"},
        {"after_seq": "abc"},
        {"before_seq": "1.5"},
        {"after_seq": str(2**64)},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"after_seq": "1", "before_seq": "5"},
    ],
)
def test_bad_cursor_values_are_refused_with_invalid(world: World, params: dict[str, str]) -> None:
    conversation = _fill(world, 1)
    response = signed_in_client(world.peer).get(_history_url(conversation), params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("query", ["after_seq=%ff%fe", "limit=%c3%28", "before_seq=%00"])
def test_undecodable_query_strings_are_refused(world: World, query: str) -> None:
    conversation = _fill(world, 1)
    response = signed_in_client(world.peer).get(f"{_history_url(conversation)}?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_another_peers_conversation_is_not_found(world: World) -> None:
    response = signed_in_client(world.other_peer).get(_history_url(_conversation(world)))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_unknown_conversation_answers_like_a_hidden_one(world: World) -> None:
    hidden = signed_in_client(world.other_peer).get(_history_url(_conversation(world)))
    unknown = signed_in_client(world.other_peer).get(_history_url(str(uuid.uuid4())))
    assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json())


def test_a_hidden_conversation_is_not_found_even_with_bad_params(world: World) -> None:
    response = signed_in_client(world.other_peer).get(
        _history_url(_conversation(world)), {"after_seq": "x"}
    )
    assert response.status_code == 404


def test_programme_admins_do_not_read_conversations(world: World) -> None:
    assert signed_in_client(world.admin).get(_history_url(_conversation(world))).status_code == 404


def test_a_supervisors_read_is_audited(world: World) -> None:
    conversation = _fill(world, 3)
    page = _page(world.supervisor, conversation, after_seq=1)
    assert _seqs(page) == [2, 3]
    entry = AuditEntry.objects.get(action="conversation.read")
    assert entry.actor_id == world.supervisor.id
    assert entry.target_id == str(conversation.id)
    assert entry.details == {"via": "api", "after_seq": 1, "before_seq": None, "count": 2}


def test_members_reads_are_not_audited(world: World) -> None:
    conversation = _fill(world, 3)
    _page(world.peer, conversation)
    _page(world.own.participant.user, conversation)
    assert not AuditEntry.objects.filter(action="conversation.read").exists()


def test_a_supervisor_reads_the_waiting_queue_with_an_audit_entry(world: World) -> None:
    waiting = Conversation.objects.get(enrolment=enrol(world.programme, by=world.admin))
    _page(world.supervisor, waiting)
    assert AuditEntry.objects.filter(action="conversation.read", target_id=str(waiting.id)).exists()


def test_mark_read_moves_the_marker_and_returns_it(world: World) -> None:
    conversation = _fill(world, 3)
    response = signed_in_client(world.peer).post(
        _read_url(conversation), {"seq": 2}, content_type="application/json"
    )
    assert (response.status_code, response.json()) == (200, {"seq": 2})
    assert ReadMarker.objects.get(conversation=conversation, user=world.peer).seq == 2


def test_mark_read_never_moves_back(world: World) -> None:
    conversation = _fill(world, 3)
    client = signed_in_client(world.peer)
    client.post(_read_url(conversation), {"seq": 3}, content_type="application/json")
    response = client.post(_read_url(conversation), {"seq": 1}, content_type="application/json")
    assert response.json() == {"seq": 3}


def test_mark_read_stops_at_the_last_message(world: World) -> None:
    conversation = _fill(world, 3)
    response = signed_in_client(world.peer).post(
        _read_url(conversation), {"seq": 2**63 - 1}, content_type="application/json"
    )
    assert response.json() == {"seq": 3}


def test_mark_read_lowers_the_unread_count(world: World) -> None:
    conversation = _fill(world, 3)
    client = signed_in_client(world.peer)
    assert client.get("/api/v1/conversations/").json()[0]["unread"] == 2
    client.post(_read_url(conversation), {"seq": 3}, content_type="application/json")
    assert client.get("/api/v1/conversations/").json()[0]["unread"] == 0


@pytest.mark.parametrize("body", [{}, {"seq": -1}, {"seq": "x"}, {"seq": 2**64}, {"seq": None}])
def test_mark_read_refuses_bad_seqs_and_writes_nothing(world: World, body: dict[str, Any]) -> None:
    conversation = _fill(world, 1)
    response = signed_in_client(world.peer).post(
        _read_url(conversation), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not ReadMarker.objects.exists()


def test_a_supervisor_leaves_no_read_receipt(world: World) -> None:
    conversation = _fill(world, 2)
    response = signed_in_client(world.supervisor).post(
        _read_url(conversation), {"seq": 2}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "read_only"
    assert not ReadMarker.objects.exists()


def test_mark_read_on_a_hidden_conversation_is_not_found(world: World) -> None:
    response = signed_in_client(world.other_peer).post(
        _read_url(_conversation(world)), {"seq": 0}, content_type="application/json"
    )
    assert response.status_code == 404
    assert not ReadMarker.objects.exists()


# Query strings travel as UTF-8 bytes: lone surrogates can't be sent at all (the raw-bytes
# case is covered by test_undecodable_query_strings_are_refused).
_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "0", "1", "500", "501", "1e3", "0x10", " 3 ", "\x00", "٣"]),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["after_seq", "before_seq", "limit", "other"]), _text, max_size=4
    ),
    who=st.sampled_from(["peer", "supervisor", "other_peer", "admin"]),
)
def test_random_history_queries_never_cause_a_server_error_or_a_write(
    world: World, params: dict[str, str], who: str
) -> None:
    conversation = _conversation(world)
    if conversation.last_seq == 0:
        _fill(world, 3)
    audits_before = AuditEntry.objects.count()
    response = signed_in_client(getattr(world, who)).get(_history_url(conversation), params)
    assert response.status_code in (200, 400, 404), response.content[:300]
    assert set(response.json()) >= ({"messages"} if response.status_code == 200 else {"code"})
    # The only write is the supervisor's audit entry, and only for a page actually served.
    expected = 1 if (who == "supervisor" and response.status_code == 200) else 0
    assert AuditEntry.objects.count() - audits_before == expected


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.dictionaries(
            st.sampled_from(["seq", "other"]),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(min_value=-(2**70), max_value=2**70),
                st.floats(allow_nan=False),
                st.text(max_size=20),
                st.lists(st.integers(), max_size=2),
            ),
            max_size=2,
        ),
        st.lists(st.integers(), max_size=2),
    )
)
def test_random_mark_read_bodies_never_cause_a_server_error(world: World, body: Any) -> None:
    conversation = _conversation(world)
    response = signed_in_client(world.peer).post(
        _read_url(conversation), body, content_type="application/json"
    )
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        # "parse_error": bodies that are not JSON at all (json.dumps writes Infinity).
        assert response.json()["code"] in {"invalid", "parse_error"}
