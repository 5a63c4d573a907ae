"""Selectors behind the chat REST endpoints, called directly."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from messaging import selectors
from messaging.models import Conversation
from messaging.services import add_case_note, post_message
from peerlink.errors import NotFound
from tests.support.factories import World, enrol

pytestmark = pytest.mark.django_db


def _conversation(world: World) -> Conversation:
    return Conversation.objects.get(enrolment=world.own)


def _fill(conversation: Conversation, world: World, count: int) -> None:
    for n in range(count):
        post_message(
            conversation_id=conversation.pk,
            sender=world.peer,
            sender_role="peer_supporter",
            channel="web",
            body=f"m{n}",
            client_id=uuid.uuid4().hex,
        )


def test_anonymous_users_have_no_conversations(world: World) -> None:
    assert selectors.conversation_list(AnonymousUser()) == []


def test_get_readable_conversation_refuses_garbage_ids(world: World) -> None:
    for bad in ("", "not-a-uuid", None, 12):
        with pytest.raises(NotFound):
            selectors.get_readable_conversation(world.peer, bad)


def test_message_page_refuses_both_cursors(world: World) -> None:
    with pytest.raises(ValueError, match="exclude"):
        selectors.message_page(_conversation(world), after_seq=1, before_seq=2)


def test_message_page_clamps_the_limit(world: World) -> None:
    conversation = _conversation(world)
    _fill(conversation, world, 3)
    assert len(selectors.message_page(conversation, limit=0).messages) == 1
    assert len(selectors.message_page(conversation, limit=10**6).messages) == 3


def test_before_seq_of_one_gives_an_empty_page(world: World) -> None:
    conversation = _conversation(world)
    _fill(conversation, world, 2)
    page = selectors.message_page(conversation, before_seq=1)
    assert (page.messages, page.next_after_seq, page.next_before_seq) == ([], 0, None)


def test_may_keep_notes_by_role(world: World) -> None:
    conversation = _conversation(world)
    assert selectors.may_keep_notes(world.peer, conversation)
    assert selectors.may_keep_notes(world.supervisor, conversation)
    for user in (world.other_peer, world.admin, world.evaluator, world.own.participant.user):
        assert not selectors.may_keep_notes(user, conversation)
    assert not selectors.may_keep_notes(AnonymousUser(), conversation)


def test_a_supervisor_of_another_team_may_not_keep_notes(world: World) -> None:
    from programmes.models import Role
    from programmes.services import create_team
    from tests.support.factories import make_staff

    outsider = make_staff(world.programme, Role.SUPERVISOR, "outside-supervisor")
    create_team(programme=world.programme, name="Other team", supervisor=outsider)
    assert not selectors.may_keep_notes(outsider, _conversation(world))
    waiting = Conversation.objects.get(enrolment=enrol(world.programme, by=world.admin))
    # The waiting queue is every supervisor's of the programme.
    assert selectors.may_keep_notes(outsider, waiting)


def test_case_notes_decrypt_newest_first(world: World) -> None:
    conversation = _conversation(world)
    add_case_note(conversation=conversation, author=world.peer, body="older")
    add_case_note(conversation=conversation, author=world.peer, body="newer")
    assert [n["body"] for n in selectors.case_notes(conversation)] == ["newer", "older"]


def test_visible_saved_reply_ignores_out_of_range_ids(world: World) -> None:
    assert selectors.visible_saved_reply(world.peer, 0) is None
    assert selectors.visible_saved_reply(world.peer, 2**63) is None
