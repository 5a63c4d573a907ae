"""/api/v1/saved-replies/: programme-wide replies and each peer supporter's own."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.models import SavedReply
from messaging.services import create_saved_reply
from programmes.models import Programme, Role
from tests.support.factories import World, make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/saved-replies/"


def _shared(world: World, title: str = "Welcome") -> SavedReply:
    return create_saved_reply(
        programme=world.programme,
        author=world.supervisor,
        title=title,
        body="Hello, I am your peer supporter.",
        language="en",
        shared=True,
    )


def _own(world: World, peer: Any = None, title: str = "Mine") -> SavedReply:
    return create_saved_reply(
        programme=world.programme,
        author=peer or world.peer,
        title=title,
        body="How has your week been?",
        language="en",
        shared=False,
    )


def _titles(user: Any, programme: Programme) -> list[str]:
    response = signed_in_client(user).get(URL, {"programme": programme.slug})
    assert response.status_code == 200, response.content[:300]
    return [r["title"] for r in response.json()]


def test_a_peer_sees_shared_replies_and_their_own_but_not_another_peers(world: World) -> None:
    _shared(world, "A shared")
    _own(world, title="B mine")
    _own(world, world.other_peer, title="C theirs")
    assert _titles(world.peer, world.programme) == ["A shared", "B mine"]
    assert _titles(world.other_peer, world.programme) == ["A shared", "C theirs"]


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_and_admins_see_shared_replies_only(world: World, who: str) -> None:
    _shared(world, "A shared")
    _own(world, title="B mine")
    assert _titles(getattr(world, who), world.programme) == ["A shared"]


def test_replies_of_another_programme_are_not_listed(world: World) -> None:
    other = make_programme("elsewhere")
    make_staff(other, Role.SUPERVISOR, "elsewhere-supervisor")
    create_saved_reply(
        programme=other,
        author=make_staff(other, Role.ADMIN),
        title="Other programme",
        body="x",
        language="en",
        shared=True,
    )
    _shared(world, "Ours")
    assert _titles(world.peer, world.programme) == ["Ours"]


def test_a_programme_where_the_caller_has_no_role_is_not_found(world: World) -> None:
    other = make_programme("elsewhere")
    response = signed_in_client(world.peer).get(URL, {"programme": other.slug})
    assert response.status_code == 404
    unknown = signed_in_client(world.peer).get(URL, {"programme": "no-such-programme"})
    assert (unknown.status_code, unknown.json()) == (404, response.json())


def test_listing_needs_a_programme(world: World) -> None:
    response = signed_in_client(world.peer).get(URL)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("who", ["evaluator"])
def test_evaluators_are_refused(world: World, who: str) -> None:
    response = signed_in_client(getattr(world, who)).get(URL, {"programme": world.programme.slug})
    assert response.status_code == 403


def test_service_users_are_refused(world: World) -> None:
    person = world.own.participant.user
    assert signed_in_client(person).get(URL, {"programme": world.programme.slug}).status_code == 403


def test_a_reply_shows_its_fields(world: World) -> None:
    reply = _shared(world)
    [row] = signed_in_client(world.peer).get(URL, {"programme": world.programme.slug}).json()
    assert row == {
        "id": reply.id,
        "programme": world.programme.slug,
        "title": "Welcome",
        "body": "Hello, I am your peer supporter.",
        "language": "en",
        "shared": True,
        "created_at": reply.created_at.isoformat(),
    }


def _create(user: Any, **body: Any) -> Any:
    return signed_in_client(user).post(URL, body, content_type="application/json")


def test_a_peer_creates_their_own_reply(world: World) -> None:
    response = _create(world.peer, programme=world.programme.slug, title="Check in", body="Hi!")
    assert response.status_code == 201
    assert response.json()["shared"] is False
    reply = SavedReply.objects.get()
    assert (reply.peer_supporter_id, reply.language) == (world.peer.id, "en")


def test_a_peer_may_not_create_a_shared_reply(world: World) -> None:
    response = _create(world.peer, programme=world.programme.slug, title="T", body="B", shared=True)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not SavedReply.objects.exists()


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_and_admins_create_shared_replies(world: World, who: str) -> None:
    response = _create(
        getattr(world, who), programme=world.programme.slug, title="T", body="B", shared=True
    )
    assert response.status_code == 201
    assert SavedReply.objects.get().peer_supporter_id is None


def test_a_supervisor_keeps_no_personal_replies(world: World) -> None:
    response = _create(world.supervisor, programme=world.programme.slug, title="T", body="B")
    assert response.status_code == 403
    assert not SavedReply.objects.exists()


def test_a_reply_in_a_programme_language(world: World) -> None:
    response = _create(
        world.peer, programme=world.programme.slug, title="Bonjour", body="Salut", language="fr"
    )
    assert response.status_code == 201
    assert response.json()["language"] == "fr"


@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "body": "B"},
        {"title": "t" * 121, "body": "B"},
        {"title": "T", "body": ""},
        {"title": "T", "body": "   "},
        {"title": "T", "body": "b" * 4001},
        {"title": "T", "body": "a\x00b"},
        {"title": "T", "body": "B", "language": "xx"},
        {"title": "T"},
        {"body": "B"},
    ],
)
def test_bad_replies_are_refused_and_write_nothing(world: World, body: dict[str, Any]) -> None:
    response = _create(world.peer, programme=world.programme.slug, **body)
    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "invalid_language"}
    assert not SavedReply.objects.exists()


def test_limits_are_inclusive(world: World) -> None:
    response = _create(world.peer, programme=world.programme.slug, title="t" * 120, body="b" * 4000)
    assert response.status_code == 201


def _delete(user: Any, reply_id: int) -> Any:
    return signed_in_client(user).delete(f"{URL}{reply_id}/")


def test_a_peer_deletes_their_own_reply(world: World) -> None:
    reply = _own(world)
    assert _delete(world.peer, reply.id).status_code == 204
    assert not SavedReply.objects.exists()


def test_another_peers_reply_is_not_found(world: World) -> None:
    reply = _own(world)
    for user in (world.other_peer, world.supervisor, world.admin):
        assert _delete(user, reply.id).status_code == 404
    assert SavedReply.objects.filter(pk=reply.pk).exists()


def test_a_peer_may_not_delete_a_shared_reply(world: World) -> None:
    reply = _shared(world)
    response = _delete(world.peer, reply.id)
    assert response.status_code == 403
    assert SavedReply.objects.filter(pk=reply.pk).exists()


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_supervisors_and_admins_delete_shared_replies(world: World, who: str) -> None:
    reply = _shared(world)
    assert _delete(getattr(world, who), reply.id).status_code == 204
    assert not SavedReply.objects.exists()


def test_a_shared_reply_of_another_programme_is_not_found(world: World) -> None:
    other = make_programme("elsewhere")
    reply = create_saved_reply(
        programme=other,
        author=make_staff(other, Role.SUPERVISOR),
        title="T",
        body="B",
        language="en",
        shared=True,
    )
    assert _delete(world.supervisor, reply.id).status_code == 404
    assert SavedReply.objects.filter(pk=reply.pk).exists()


@pytest.mark.parametrize("reply_id", [999999, 2**63, 10**30])
def test_unknown_and_out_of_range_ids_are_not_found(world: World, reply_id: int) -> None:
    assert _delete(world.supervisor, reply_id).status_code == 404


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(["programme", "title", "body", "language", "shared", "other"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=20),
            st.sampled_from(["trial", "en", "fr", "\x00", "\ud800", "t" * 121]),
            st.lists(st.text(max_size=3), max_size=2),
        ),
        max_size=6,
    ),
    who=st.sampled_from(["peer", "supervisor"]),
)
def test_random_reply_bodies_never_cause_a_server_error_or_a_partial_write(
    world: World, body: dict[str, Any], who: str
) -> None:
    before = SavedReply.objects.count()
    response = _create(getattr(world, who), **body)
    assert response.status_code in (201, 400, 403, 404), response.content[:300]
    assert SavedReply.objects.count() - before == (1 if response.status_code == 201 else 0)
