"""`alert` frames (DESIGN.md §4, data flow 6): who hears of a risk alert on their socket, live
and on (re)connect, and that the frames carry ids and codes only. Each test runs on the
in-memory layer and on a real Redis layer (tests/messaging/conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket as net
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from messaging.models import Conversation
from messaging.risk.models import RiskAlert, RiskSignal
from messaging.risk.services import acknowledge_alert, resolve_alert
from messaging.services import post_message
from people.models import User
from programmes.models import Role
from staffing.availability import WEEKDAYS
from staffing.services import add_on_call_shift, set_working_hours
from tests.support.factories import World, make_staff

pytestmark = pytest.mark.django_db(transaction=True)

# What the person writes: a crisis phrase of the shipped English lexicon.
RISKY_TEXT = "I want to end my life"
PERSON_NAME = "Test Person"


# Helpers.


def _off_duty_now(user: User) -> None:
    """Working hours only on a day that is neither yesterday nor today (UTC): off duty now."""
    day = WEEKDAYS[(timezone.now().weekday() + 3) % 7]
    set_working_hours(
        user=user, working_hours={day: ["09:00", "10:00"]}, time_zone="UTC", changed_by=None
    )


off_duty_now = database_sync_to_async(_off_duty_now)


async def alerts_heard(ws: Any, socket: WebsocketCommunicator) -> list[dict[str, Any]]:
    """The `alert` objects a socket receives before it falls quiet."""
    return [frame["alert"] for frame in await ws.quiet(socket) if frame["type"] == "alert"]


async def next_alert(ws: Any, socket: WebsocketCommunicator) -> dict[str, Any]:
    return (await ws.last(socket, "alert"))["alert"]


async def says_risky(ws: Any, person: WebsocketCommunicator, conversation: Conversation) -> None:
    """The person writes a crisis phrase on their socket; returns once it is committed."""
    await person.send_json_to(
        {
            "type": "send",
            "conversation": str(conversation.id),
            "client_id": "risky",
            "body": RISKY_TEXT,
        }
    )
    await ws.last(person, "ack")


def _open_alert_sync(world: World) -> RiskAlert:
    """The person writes a crisis phrase (by SMS, say): no socket of theirs is involved."""
    conversation = Conversation.objects.get(enrolment=world.own)
    posted = post_message(
        conversation_id=conversation.pk,
        sender=world.own.participant.user,
        sender_role="participant",
        channel="sms",
        body=RISKY_TEXT,
        client_id="risky-sms",
    )
    return RiskSignal.objects.select_related("alert").get(message=posted.message).alert


open_alert = database_sync_to_async(_open_alert_sync)


# Live, as the alert opens.


async def test_a_supervisor_socket_receives_an_alert_as_it_opens(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    supervisor = await connect(chat_world.supervisor)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    alert = await next_alert(ws, supervisor)
    stored = await database_sync_to_async(RiskAlert.objects.get)()
    assert alert["id"] == str(stored.pk)
    assert (alert["status"], alert["severity"], alert["categories"]) == (
        "open",
        "high",
        ["suicide"],
    )
    assert alert["conversation"] == str(conversation.id)


async def test_an_on_duty_peer_supporters_socket_receives_the_alert(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    peer = await connect(chat_world.peer)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    assert (await next_alert(ws, peer))["conversation"] == str(conversation.id)


async def test_an_off_duty_peer_supporters_socket_does_not_receive_the_alert(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    await off_duty_now(chat_world.peer)
    peer = await connect(chat_world.peer)
    supervisor = await connect(chat_world.supervisor)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    await next_alert(ws, supervisor)  # the alert has been rung
    assert await alerts_heard(ws, peer) == []


async def test_a_peer_supporter_not_assigned_to_the_person_does_not_receive_the_alert(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    other_peer = await connect(chat_world.other_peer)
    supervisor = await connect(chat_world.supervisor)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    await next_alert(ws, supervisor)
    assert await alerts_heard(ws, other_peer) == []


async def test_only_supervisors_on_the_rota_hear_of_the_alert_live(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    off_rota = await database_sync_to_async(make_staff)(chat_world.programme, Role.SUPERVISOR)
    now = timezone.now()
    await database_sync_to_async(add_on_call_shift)(
        programme=chat_world.programme,
        supervisor=chat_world.supervisor,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=8),
        created_by=None,
    )
    on_call = await connect(chat_world.supervisor)
    elsewhere = await connect(off_rota)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    await next_alert(ws, on_call)
    assert await alerts_heard(ws, elsewhere) == []


async def test_with_nobody_on_the_rota_every_supervisor_hears_of_the_alert(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    second = await database_sync_to_async(make_staff)(chat_world.programme, Role.SUPERVISOR)
    sockets = [await connect(chat_world.supervisor), await connect(second)]
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    for socket in sockets:
        assert (await next_alert(ws, socket))["conversation"] == str(conversation.id)


async def test_a_participant_socket_never_receives_alert_frames(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    supervisor = await connect(chat_world.supervisor)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    await next_alert(ws, supervisor)
    assert await alerts_heard(ws, person) == []
    # Nor when it connects while the alert is unresolved.
    again = await connect(chat_world.own.participant.user)
    assert await alerts_heard(ws, again) == []


async def test_an_alert_frame_carries_no_message_text_or_names(
    ws: Any, connect: Any, chat_world: World, conversation: Conversation
) -> None:
    supervisor = await connect(chat_world.supervisor)
    person = await connect(chat_world.own.participant.user)
    await says_risky(ws, person, conversation)
    frame = json.dumps(await next_alert(ws, supervisor))
    assert RISKY_TEXT.lower() not in frame.lower()
    assert PERSON_NAME not in frame
    assert chat_world.peer.first_name not in frame


# On connect and reconnect.


async def test_a_supervisor_connecting_after_the_alert_opened_receives_it(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    supervisor = await connect(chat_world.supervisor)
    assert (await next_alert(ws, supervisor))["id"] == str(opened.pk)


async def test_an_on_duty_peer_connecting_after_the_alert_opened_receives_it(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    peer = await connect(chat_world.peer)
    assert (await next_alert(ws, peer))["id"] == str(opened.pk)


async def test_an_off_duty_peer_connecting_is_not_told_of_alerts(
    ws: Any, connect: Any, chat_world: World
) -> None:
    await open_alert(chat_world)
    await off_duty_now(chat_world.peer)
    peer = await connect(chat_world.peer)
    assert await alerts_heard(ws, peer) == []


async def test_every_reconnect_brings_the_unresolved_alert_again(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    first = await connect(chat_world.supervisor)
    assert [alert["id"] for alert in await alerts_heard(ws, first)] == [str(opened.pk)]
    await first.disconnect()
    second = await connect(chat_world.supervisor)
    assert [alert["id"] for alert in await alerts_heard(ws, second)] == [str(opened.pk)]


async def test_a_resolved_alert_is_not_sent_on_connect(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    await database_sync_to_async(resolve_alert)(
        alert_id=opened.pk, by=chat_world.supervisor, resolution="safe"
    )
    supervisor = await connect(chat_world.supervisor)
    assert await alerts_heard(ws, supervisor) == []


def _closed_port() -> int:
    with net.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_alert_opened_while_the_channel_layer_is_down_reaches_the_supervisor_on_connect(
    ws: Any,
    connect: Any,
    chat_world: World,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    working = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{_closed_port()}/0"]},
        }
    }
    channel_layers.backends.clear()
    with caplog.at_level(logging.WARNING, logger="messaging.events"):
        opened = await open_alert(chat_world)
    assert "channel layer send failed" in caplog.text  # the doorbell was lost
    settings.CHANNEL_LAYERS = working
    channel_layers.backends.clear()
    supervisor = await connect(chat_world.supervisor)
    assert (await next_alert(ws, supervisor))["id"] == str(opened.pk)


# Updates.


async def test_acknowledging_sends_the_alert_with_its_new_status(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    supervisor = await connect(chat_world.supervisor)
    assert (await next_alert(ws, supervisor))["status"] == "open"
    await database_sync_to_async(acknowledge_alert)(alert_id=opened.pk, by=chat_world.peer)
    update = await next_alert(ws, supervisor)
    assert (update["id"], update["status"]) == (str(opened.pk), "acknowledged")
    assert update["acknowledged_by"] == chat_world.peer.pk


async def test_resolving_sends_the_alert_with_its_new_status(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    peer = await connect(chat_world.peer)
    assert (await next_alert(ws, peer))["status"] == "open"
    await database_sync_to_async(resolve_alert)(
        alert_id=opened.pk, by=chat_world.supervisor, resolution="support_arranged"
    )
    update = await next_alert(ws, peer)
    assert (update["id"], update["status"]) == (str(opened.pk), "resolved")
    assert update["resolution"] == "support_arranged"


async def test_the_acknowledgers_own_socket_receives_the_update(
    ws: Any, connect: Any, chat_world: World
) -> None:
    opened = await open_alert(chat_world)
    peer = await connect(chat_world.peer)
    await next_alert(ws, peer)
    await database_sync_to_async(acknowledge_alert)(alert_id=opened.pk, by=chat_world.peer)
    assert (await next_alert(ws, peer))["status"] == "acknowledged"
