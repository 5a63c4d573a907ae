from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from messaging.models import Conversation, Message
from programmes.models import Enrolment, Programme

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_demo_programme_and_prints_the_logins() -> None:
    output = _seed()
    assert Programme.objects.filter(slug="demo").exists()
    assert Enrolment.objects.count() == 8
    for username in ("demo-admin", "demo-supervisor", "demo-peer1", "demo-peer2", "demo-evaluator"):
        assert username in output
    assert "peerlink-demo" in output


def test_seed_demo_is_safe_to_run_twice() -> None:
    _seed()
    counts = (Enrolment.objects.count(), Conversation.objects.count(), Message.objects.count())
    assert "already present" in _seed()
    assert (
        Enrolment.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    ) == counts


def test_every_demo_conversation_has_an_opening_exchange() -> None:
    _seed()
    for conversation in Conversation.objects.all():
        assert list(
            conversation.messages.order_by("seq").values_list("sender_role", flat=True)
        ) == [
            "peer_supporter",
            "participant",
        ]


def test_the_printed_demo_login_works() -> None:
    _seed()
    response = Client().post(
        "/api/v1/auth/login/",
        {"username": "demo-peer1", "password": "peerlink-demo"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["roles"] == [{"programme": "demo", "role": "peer_supporter"}]
