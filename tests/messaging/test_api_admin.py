"""Django admin for the chat: conversations and the SMS outbox read-only, saved replies
editable, and never a message body or a case note on any page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client

from messaging.models import CaseNote, Conversation, Message, SmsOutbox
from messaging.services import add_case_note, create_saved_reply, post_message
from tests.support.factories import World

pytestmark = pytest.mark.django_db

SECRET_MESSAGE = "my-secret-message-text"
SECRET_NOTE = "my-secret-case-note-text"


@pytest.fixture
def admin_client(world: World) -> Client:
    world.admin.is_staff = True
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(world.admin)
    return client


@pytest.fixture
def chat(world: World) -> Conversation:
    conversation = Conversation.objects.get(enrolment=world.own)
    post_message(
        conversation_id=conversation.pk,
        sender=world.peer,
        sender_role="peer_supporter",
        channel="web",
        body=SECRET_MESSAGE,
        client_id=uuid.uuid4().hex,
    )
    add_case_note(conversation=conversation, author=world.peer, body=SECRET_NOTE)
    return conversation


def test_message_bodies_and_case_notes_have_no_admin() -> None:
    assert not admin.site.is_registered(Message)
    assert not admin.site.is_registered(CaseNote)


def test_conversation_pages_show_no_text(admin_client: Client, chat: Conversation) -> None:
    for url in (
        "/admin/messaging/conversation/",
        f"/admin/messaging/conversation/{chat.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert SECRET_MESSAGE.encode() not in response.content
        assert SECRET_NOTE.encode() not in response.content


def test_outbox_pages_show_no_text(admin_client: Client, chat: Conversation) -> None:
    outbox = SmsOutbox.objects.get()
    for url in ("/admin/messaging/smsoutbox/", f"/admin/messaging/smsoutbox/{outbox.pk}/change/"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert SECRET_MESSAGE.encode() not in response.content


@pytest.mark.parametrize("model", [Conversation, SmsOutbox])
def test_conversations_and_the_outbox_are_read_only(
    admin_client: Client, chat: Conversation, model: Any
) -> None:
    model_admin = admin.site._registry[model]
    request: Any = type("R", (), {"user": None})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    name = model._meta.model_name
    assert admin_client.get(f"/admin/messaging/{name}/add/").status_code == 403


def test_saved_replies_are_edited_in_the_admin(admin_client: Client, world: World) -> None:
    reply = create_saved_reply(
        programme=world.programme,
        author=world.supervisor,
        title="Welcome",
        body="Hello",
        language="en",
        shared=True,
    )
    assert admin_client.get("/admin/messaging/savedreply/").status_code == 200
    assert admin_client.get(f"/admin/messaging/savedreply/{reply.pk}/change/").status_code == 200
    assert admin_client.get("/admin/messaging/savedreply/add/").status_code == 200
