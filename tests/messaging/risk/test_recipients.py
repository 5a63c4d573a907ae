"""Who hears of an alert in real time (DESIGN.md §3, data flow 6; §1: no out-of-hours pressure
on peer supporters): the assigned peer supporter when on duty, and the programme's on-duty
supervisors (those on the on-call rota and not on leave); when nobody is on the rota, every
supervisor of the programme, so that an alert never reaches nobody. Off-duty peer
supporters get no `alert` frames, live or on connect. The socket tests run on the in-memory
layer and on a real Redis layer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from messaging.models import Conversation, InboundSms, IntakeReason
from messaging.risk.models import AlertEventKind, RiskAlert, RiskAlertEvent
from messaging.risk.selectors import alert_list, alert_recipient_ids
from messaging.risk.services import acknowledge_alert, raise_signal
from messaging.services import post_message
from messaging.sms import simulate
from messaging.sms.intake import record_intake
from people.models import User
from programmes.models import Enrolment, Programme, Role
from staffing.services import add_on_call_shift, record_leave, set_working_hours
from tests.support.factories import World, enrol, fictional_phone, make_programme, make_staff

T0 = dt.datetime(2026, 3, 2, 18, 0, tzinfo=dt.UTC)  # a Monday, 11:00 in Edmonton
RISKY = "I want to die tonight"


def hours_from(at: dt.datetime, offset: int) -> dt.datetime:
    return at + dt.timedelta(hours=offset)


def on_call(
    programme: Programme, supervisor: User, *, level: int = 1, at: dt.datetime = T0
) -> None:
    add_on_call_shift(
        programme=programme,
        supervisor=supervisor,
        starts_at=hours_from(at, -1),
        ends_at=hours_from(at, 8),
        level=level,
        created_by=None,
    )


def off_duty_now(peer: User, at: dt.datetime) -> None:
    """Working hours every day in a one-hour window twelve hours away from `at` (UTC)."""
    start = hours_from(at, 12).replace(minute=0)
    window = [start.strftime("%H:%M"), hours_from(start, 1).strftime("%H:%M")]
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    set_working_hours(
        user=peer, working_hours=dict.fromkeys(days, window), time_zone="UTC", changed_by=None
    )


def open_alert(enrolment: Enrolment, key: str = "survey:1") -> RiskAlert:
    return raise_signal(
        source="survey",
        source_key=key,
        severity="high",
        categories=["suicide"],
        enrolment=enrolment,
    )


@pytest.fixture
def night_supervisor(world: World) -> User:
    """A second supervisor of the programme, not the person's team's."""
    return make_staff(world.programme, Role.SUPERVISOR, "night-supervisor")


@pytest.fixture
def elsewhere(world: World) -> User:
    """A supervisor of another programme."""
    return make_staff(make_programme("other"), Role.SUPERVISOR, "elsewhere")


@pytest.fixture
def alert(world: World, time_machine: Any) -> RiskAlert:
    time_machine.move_to(T0, tick=False)
    return open_alert(world.own)


# --- alert_recipient_ids --------------------------------------------------------------------


def test_the_on_duty_peer_and_the_on_call_supervisor_are_told(
    world: World, alert: RiskAlert, night_supervisor: User
) -> None:
    on_call(world.programme, world.supervisor)
    assert alert_recipient_ids(alert, at=T0) == ({world.peer.pk, world.supervisor.pk}, False)


def test_supervisors_not_on_the_rota_are_not_told_while_someone_is(
    world: World, alert: RiskAlert, night_supervisor: User
) -> None:
    on_call(world.programme, night_supervisor)
    recipients, fallback = alert_recipient_ids(alert, at=T0)
    assert (recipients, fallback) == ({world.peer.pk, night_supervisor.pk}, False)


def test_a_supervisor_on_call_at_level_two_is_on_duty(
    world: World, alert: RiskAlert, night_supervisor: User
) -> None:
    on_call(world.programme, night_supervisor, level=2)
    assert night_supervisor.pk in alert_recipient_ids(alert, at=T0)[0]


def test_an_off_duty_peer_supporter_is_not_told(world: World, alert: RiskAlert) -> None:
    on_call(world.programme, world.supervisor)
    off_duty_now(world.peer, T0)
    assert alert_recipient_ids(alert, at=T0) == ({world.supervisor.pk}, False)


def test_a_peer_supporter_on_leave_is_not_told(world: World, alert: RiskAlert) -> None:
    on_call(world.programme, world.supervisor)
    record_leave(
        user=world.peer, starts_at=hours_from(T0, -2), ends_at=hours_from(T0, 48), recorded_by=None
    )
    assert world.peer.pk not in alert_recipient_ids(alert, at=T0)[0]


def test_with_nobody_on_the_rota_every_supervisor_of_the_programme_is_told(
    world: World, alert: RiskAlert, night_supervisor: User, elsewhere: User
) -> None:
    recipients, fallback = alert_recipient_ids(alert, at=T0)
    assert fallback
    assert recipients == {world.peer.pk, world.supervisor.pk, night_supervisor.pk}


def test_an_on_call_supervisor_on_leave_leaves_the_rota_empty(
    world: World, alert: RiskAlert, night_supervisor: User
) -> None:
    on_call(world.programme, world.supervisor)
    record_leave(
        user=world.supervisor,
        starts_at=hours_from(T0, -2),
        ends_at=hours_from(T0, 2),
        recorded_by=None,
    )
    recipients, fallback = alert_recipient_ids(alert, at=T0)
    assert fallback
    assert {world.supervisor.pk, night_supervisor.pk} <= recipients


def test_a_shift_that_has_ended_leaves_the_rota_empty(world: World, alert: RiskAlert) -> None:
    on_call(world.programme, world.supervisor, at=hours_from(T0, -12))
    assert alert_recipient_ids(alert, at=T0)[1] is True


def test_an_off_duty_peer_with_nobody_on_the_rota_still_reaches_the_supervisors(
    world: World, alert: RiskAlert
) -> None:
    off_duty_now(world.peer, T0)
    assert alert_recipient_ids(alert, at=T0) == ({world.supervisor.pk}, True)


def test_a_person_waiting_for_a_peer_supporter_reaches_the_supervisors(world: World) -> None:
    waiting = enrol(world.programme)  # nobody assigned yet
    on_call(world.programme, world.supervisor)
    assert alert_recipient_ids(open_alert(waiting), at=T0) == ({world.supervisor.pk}, False)


def test_an_alert_about_an_unknown_number_reaches_every_supervisor(
    world: World, elsewhere: User
) -> None:
    inbound = InboundSms.objects.create(message_sid=simulate.new_message_sid(), received_at=T0)
    intake = record_intake(
        inbound=inbound,
        reason=IntakeReason.UNKNOWN_SENDER,
        phone=fictional_phone(),
        body=RISKY,
        programme=None,
    )
    alert = RiskAlert.objects.get(intake=intake)
    assert alert_recipient_ids(alert, at=T0) == ({world.supervisor.pk, elsewhere.pk}, True)


def test_who_was_told_is_on_the_timeline(world: World, time_machine: Any) -> None:
    time_machine.move_to(T0, tick=False)
    on_call(world.programme, world.supervisor)
    alert = open_alert(world.own)
    event = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.NOTIFIED)
    assert event.details == {
        "users": sorted([world.peer.pk, world.supervisor.pk]),
        "nobody_on_duty": False,
    }


def test_that_nobody_was_on_duty_is_on_the_timeline(world: World, alert: RiskAlert) -> None:
    event = RiskAlertEvent.objects.get(alert=alert, kind=AlertEventKind.NOTIFIED)
    assert event.details["nobody_on_duty"] is True


# --- Who sees it in the list ----------------------------------------------------------------


def test_the_alert_list_shows_the_alert_to_the_assigned_peer_and_the_supervisors(
    world: World, alert: RiskAlert, night_supervisor: User
) -> None:
    for user in (world.peer, world.supervisor, night_supervisor):
        assert [a["id"] for a in alert_list(user)] == [str(alert.pk)]


def test_the_alert_list_shows_nothing_to_others(
    world: World, alert: RiskAlert, elsewhere: User
) -> None:
    for user in (world.other_peer, world.admin, world.evaluator, elsewhere):
        assert alert_list(user) == []
    assert alert_list(world.own.participant.user) == []


def test_an_alert_payload_carries_ids_and_codes_and_no_text(world: World, alert: RiskAlert) -> None:
    [payload] = alert_list(world.supervisor)
    assert payload["conversation"] == str(Conversation.objects.get(enrolment=world.own).pk)
    assert payload["programme"] == world.programme.slug
    assert not {"body", "text", "name", "phone", "notes"} & set(payload)


# --- Sockets --------------------------------------------------------------------------------


def write(enrolment: Enrolment, body: str = RISKY) -> None:
    post_message(
        conversation_id=Conversation.objects.get(enrolment=enrolment).pk,
        sender=enrolment.participant.user,
        sender_role="participant",
        channel="sms",
        body=body,
        client_id="risky",
    )


def alert_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["alert"] for f in frames if f["type"] == "alert"]


@pytest.mark.django_db(transaction=True)
async def test_the_peer_and_supervisor_sockets_get_an_alert_frame_when_it_opens(
    ws: Any, connect: Any, chat_world: World
) -> None:
    peer = await connect(chat_world.peer)
    supervisor = await connect(chat_world.supervisor)
    await database_sync_to_async(write)(chat_world.own)
    alert = await database_sync_to_async(RiskAlert.objects.get)()
    for socket in (peer, supervisor):
        frame = await ws.last(socket, "alert")
        assert (frame["alert"]["id"], frame["alert"]["status"]) == (str(alert.pk), "open")


@pytest.mark.django_db(transaction=True)
async def test_an_off_duty_peer_supporters_socket_gets_no_alert_frame(
    ws: Any, connect: Any, chat_world: World
) -> None:
    await database_sync_to_async(off_duty_now)(chat_world.peer, timezone.now())
    peer = await connect(chat_world.peer)
    supervisor = await connect(chat_world.supervisor)
    await database_sync_to_async(write)(chat_world.own)
    await ws.last(supervisor, "alert")
    assert alert_frames(await ws.quiet(peer)) == []


@pytest.mark.django_db(transaction=True)
async def test_another_peer_supporters_socket_gets_no_alert_frame(
    ws: Any, connect: Any, chat_world: World
) -> None:
    other = await connect(chat_world.other_peer)
    supervisor = await connect(chat_world.supervisor)
    await database_sync_to_async(write)(chat_world.own)
    await ws.last(supervisor, "alert")
    assert alert_frames(await ws.quiet(other)) == []


@pytest.mark.django_db(transaction=True)
async def test_acknowledging_rings_the_alert_frame_with_its_new_status(
    ws: Any, connect: Any, chat_world: World
) -> None:
    supervisor = await connect(chat_world.supervisor)
    await database_sync_to_async(write)(chat_world.own)
    opened = (await ws.last(supervisor, "alert"))["alert"]
    await database_sync_to_async(acknowledge_alert)(alert_id=opened["id"], by=chat_world.peer)
    frame = (await ws.last(supervisor, "alert"))["alert"]
    assert (frame["id"], frame["status"], frame["acknowledged_by"]) == (
        opened["id"],
        "acknowledged",
        chat_world.peer.pk,
    )


@pytest.mark.django_db(transaction=True)
async def test_a_staff_socket_that_connects_later_is_told_of_unresolved_alerts(
    ws: Any, connect: Any, chat_world: World
) -> None:
    await database_sync_to_async(write)(chat_world.own)
    alert = await database_sync_to_async(RiskAlert.objects.get)()
    for user in (chat_world.supervisor, chat_world.peer):
        socket = await connect(user)
        assert [a["id"] for a in alert_frames(await ws.quiet(socket))] == [str(alert.pk)]


@pytest.mark.django_db(transaction=True)
async def test_an_off_duty_peer_supporter_connecting_is_told_of_no_alerts(
    ws: Any, connect: Any, chat_world: World
) -> None:
    await database_sync_to_async(write)(chat_world.own)
    await database_sync_to_async(off_duty_now)(chat_world.peer, timezone.now())
    socket = await connect(chat_world.peer)
    assert alert_frames(await ws.quiet(socket)) == []


@pytest.mark.django_db(transaction=True)
async def test_the_persons_own_socket_gets_no_alert_frame(
    ws: Any, connect: Any, chat_world: World
) -> None:
    person = await connect(chat_world.own.participant.user)
    supervisor = await connect(chat_world.supervisor)
    await database_sync_to_async(write)(chat_world.own)
    await ws.last(supervisor, "alert")
    assert alert_frames(await ws.quiet(person)) == []
