"""create_saved_reply / delete_saved_reply: the domain rules, whoever calls them."""

from __future__ import annotations

import pytest

from messaging.models import SavedReply
from messaging.services import create_saved_reply, delete_saved_reply
from peerlink.errors import DomainError
from tests.support.factories import World

pytestmark = pytest.mark.django_db


def _create(world: World, **overrides: object) -> SavedReply:
    kwargs: dict[str, object] = {
        "programme": world.programme,
        "author": world.peer,
        "title": "Title",
        "body": "Body",
        "language": "en",
        "shared": False,
    }
    kwargs.update(overrides)
    return create_saved_reply(**kwargs)  # type: ignore[arg-type]


def test_an_own_reply_belongs_to_its_author(world: World) -> None:
    assert _create(world).peer_supporter_id == world.peer.id


def test_a_shared_reply_has_no_owner(world: World) -> None:
    assert _create(world, author=world.supervisor, shared=True).peer_supporter_id is None


@pytest.mark.parametrize(
    ("who", "shared"),
    [("peer", True), ("supervisor", False), ("admin", False), ("evaluator", True)],
)
def test_the_wrong_role_is_forbidden_and_nothing_is_written(
    world: World, who: str, shared: bool
) -> None:
    with pytest.raises(DomainError) as excinfo:
        _create(world, author=getattr(world, who), shared=shared)
    assert (excinfo.value.code, excinfo.value.http_status) == ("forbidden", 403)
    assert not SavedReply.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"title": ""}, "invalid_title"),
        ({"title": "  "}, "invalid_title"),
        ({"title": "t" * 121}, "invalid_title"),
        ({"body": ""}, "empty_body"),
        ({"body": "b" * 4001}, "body_too_long"),
        ({"language": "de"}, "invalid_language"),
    ],
)
def test_invalid_replies_are_refused(world: World, overrides: dict[str, object], code: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        _create(world, **overrides)
    assert excinfo.value.code == code
    assert not SavedReply.objects.exists()


def test_an_owner_deletes_their_reply(world: World) -> None:
    reply = _create(world)
    delete_saved_reply(reply=reply, by=world.peer)
    assert not SavedReply.objects.exists()


def test_nobody_else_deletes_an_own_reply(world: World) -> None:
    reply = _create(world)
    for user in (world.other_peer, world.supervisor, world.admin):
        with pytest.raises(DomainError):
            delete_saved_reply(reply=reply, by=user)
    assert SavedReply.objects.filter(pk=reply.pk).exists()


def test_a_peer_does_not_delete_a_shared_reply(world: World) -> None:
    reply = _create(world, author=world.supervisor, shared=True)
    with pytest.raises(DomainError):
        delete_saved_reply(reply=reply, by=world.peer)
    assert SavedReply.objects.filter(pk=reply.pk).exists()
