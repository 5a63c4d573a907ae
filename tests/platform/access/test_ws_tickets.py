"""WebSocket tickets: single use, short lived, stored only as a hash (DESIGN.md §4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from access.models import WsTicket
from access.services import consume_ws_ticket, issue_ws_ticket
from tests.support.factories import World

WS_TICKET = "/api/v1/ws-ticket/"


def ticket_for(user: Any) -> str:
    client = Client()
    client.force_login(user)
    response = client.post(WS_TICKET, {}, content_type="application/json")
    assert response.status_code == 201
    return str(response.json()["ticket"])


def test_signed_in_user_gets_201_with_a_ticket_and_its_lifetime(world: World) -> None:
    client = Client()
    client.force_login(world.peer)

    response = client.post(WS_TICKET, {}, content_type="application/json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert isinstance(body["ticket"], str)
    assert len(body["ticket"]) >= 32
    assert body["expires_in"] == settings.WS_TICKET_TTL_SECONDS


def test_ticket_expires_after_the_advertised_lifetime(world: World) -> None:
    before = timezone.now()
    ticket_for(world.peer)

    row = WsTicket.objects.get()

    lifetime = dt.timedelta(seconds=settings.WS_TICKET_TTL_SECONDS)
    assert before + lifetime <= row.expires_at <= timezone.now() + lifetime


def test_every_ticket_is_different(world: World) -> None:
    assert ticket_for(world.peer) != ticket_for(world.peer)


def test_ticket_is_consumed_for_its_user_once(world: World) -> None:
    ticket = ticket_for(world.peer)

    assert consume_ws_ticket(ticket=ticket) == world.peer


def test_ticket_gives_nothing_the_second_time(world: World) -> None:
    ticket = ticket_for(world.peer)
    consume_ws_ticket(ticket=ticket)

    assert consume_ws_ticket(ticket=ticket) is None


def test_service_users_ticket_is_for_the_service_user(world: World) -> None:
    user = world.own.participant.user

    assert consume_ws_ticket(ticket=ticket_for(user)) == user


def test_consuming_one_ticket_leaves_another_usable(world: World) -> None:
    first = ticket_for(world.peer)
    second = ticket_for(world.peer)
    consume_ws_ticket(ticket=first)

    assert consume_ws_ticket(ticket=second) == world.peer


def test_expired_ticket_gives_nothing(world: World) -> None:
    ticket = ticket_for(world.peer)
    WsTicket.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert consume_ws_ticket(ticket=ticket) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "x" * 43, "x" * 129, "x" * 100_000, "\x00", "' OR 1=1 --", "🔑" * 10],
    ids=["empty", "word", "ticket-length", "129-chars", "100k-chars", "nul", "sql", "emoji"],
)
def test_garbage_ticket_gives_nothing(world: World, garbage: str) -> None:
    issue_ws_ticket(user=world.peer)

    assert consume_ws_ticket(ticket=garbage) is None


def test_altered_ticket_gives_nothing(world: World) -> None:
    ticket = ticket_for(world.peer)

    assert consume_ws_ticket(ticket=ticket[:-1]) is None
    assert consume_ws_ticket(ticket=ticket + "x") is None
    assert consume_ws_ticket(ticket=ticket.upper()) is None or ticket == ticket.upper()


def test_failed_attempts_do_not_use_up_the_ticket(world: World) -> None:
    ticket = ticket_for(world.peer)
    consume_ws_ticket(ticket=ticket[:-1])

    assert consume_ws_ticket(ticket=ticket) == world.peer


def test_ticket_row_holds_a_hash_not_the_ticket(world: World) -> None:
    ticket = ticket_for(world.peer)

    row = WsTicket.objects.get()

    assert ticket not in row.ticket_hash
    assert row.ticket_hash != ticket
    assert len(row.ticket_hash) == 64
    assert not WsTicket.objects.filter(ticket_hash=ticket).exists()
