"""/metrics, the project's own metrics (issue 10, item 3): each one driven through the real
services (messages posted and replayed, an SMS sent through the fake Twilio and reported
delivered by a signed callback, sockets opened through the real ASGI application, outbox rows,
scheduled texts, risk alerts and survey sessions) and read back from GET /metrics as
Prometheus parses it. Counters, the histogram and the socket gauge are process-wide, so those
tests compare before and after; the scrape-time gauges read the test's own database."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from access.services import issue_ws_ticket
from messaging.metrics import WebsocketCount
from messaging.models import (
    Conversation,
    MessageChannel,
    OutboxStatus,
    SenderRole,
    SmsOutbox,
)
from messaging.risk.models import Resolution
from messaging.risk.services import acknowledge_alert, raise_signal, resolve_alert
from messaging.services import AutomatedPost, post_automated_messages, post_message
from messaging.sms.delivery import claim, send_outbox
from outcomes.models import SessionState
from people.selectors import participant_profile
from programmes.models import Enrolment
from tests.outcomes.surveys import enrol_at, reply, survey_programme, tick
from tests.platform.health.test_metrics import Samples, scrape
from tests.scheduling.texts import clock, dispatch, enrol_for_texts, text_programme, utc
from tests.support.factories import World, fictional_phone, make_world
from tests.support.fake_twilio import SentSms
from tests.support.sms import inbound, phone_of, status_callback

# Ahead of the clock, so that everything the world was set up with happened before it.
T0 = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
SECOND = dt.timedelta(seconds=1)
TIMEOUT = 5


def values(samples: Samples, name: str, label: str) -> dict[str, float]:
    """{value of `label`: sample} for a metric with one label."""
    return {dict(labels)[label]: value for labels, value in samples.get(name, {}).items()}


def single(samples: Samples, name: str) -> float:
    """The one sample of an unlabelled metric."""
    return samples[name][()]


def messages(samples: Samples) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["channel"], dict(labels)["direction"]): value
        for labels, value in samples["peerlink_messages_total"].items()
    }


def grew(before: Samples, after: Samples) -> dict[tuple[str, str], float]:
    """The message counters that moved, by how much."""
    old, new = messages(before), messages(after)
    return {key: new[key] - old.get(key, 0.0) for key in new if new[key] != old.get(key, 0.0)}


def conversation_of(world: World) -> Conversation:
    return Conversation.objects.get(enrolment=world.own)


def post_as_peer(world: World, client_id: str, body: str = "Thinking of you today.") -> Any:
    return post_message(
        conversation_id=conversation_of(world).pk,
        sender=world.peer,
        sender_role=SenderRole.PEER_SUPPORTER,
        channel=MessageChannel.WEB,
        body=body,
        client_id=client_id,
    )


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """Runs what the block leaves for after commit (counters, the SMS task, doorbells)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# peerlink_messages{channel, direction} ---------------------------------------------------


def test_every_message_series_exists_at_zero_from_the_start(client: Client, db: None) -> None:
    counted = messages(scrape(client))

    assert set(counted) == {
        (channel, direction) for channel in MessageChannel.values for direction in ("in", "out")
    }


def test_a_posted_message_is_counted_once_and_its_replay_not_at_all(
    client: Client, world: World, on_commit: Any
) -> None:
    before = scrape(client)
    with on_commit():
        first = post_as_peer(world, "client-1")
    with on_commit():
        again = post_as_peer(world, "client-1")

    assert (first.created, again.created) == (True, False)
    assert grew(before, scrape(client)) == {("web", "out"): 1.0}


def test_an_inbound_sms_is_counted_in_once_and_its_redelivery_not_at_all(
    client: Client, world: World, on_commit: Any
) -> None:
    before = scrape(client)
    sid = "SM" + uuid.uuid4().hex
    for _ in range(2):
        with on_commit():
            response = inbound(
                client, sender=phone_of(world.own), body="Hi, it's me.", message_sid=sid
            )
        assert response.status_code == 200

    assert grew(before, scrape(client)) == {("sms", "in"): 1.0}


def test_automated_texts_are_counted_out_once_each(
    client: Client, world: World, on_commit: Any
) -> None:
    conversation = conversation_of(world)
    posts = [
        AutomatedPost(conversation_id=conversation.pk, client_id=f"scheduled:{n}", body="A text.")
        for n in (1, 2)
    ]
    before = scrape(client)
    with on_commit():
        post_automated_messages(posts=posts)
    with on_commit():
        post_automated_messages(posts=posts)  # the dispatcher retrying the same batch

    assert grew(before, scrape(client)) == {("automated", "out"): 2.0}


def test_a_message_whose_transaction_rolls_back_is_not_counted(
    client: Client, world: World, on_commit: Any
) -> None:
    from django.db import transaction

    class Abandoned(Exception):
        pass

    def post_then_fail() -> None:
        # The caller's transaction (an inbound webhook, a dispatcher batch) fails after the
        # message was inserted.
        with transaction.atomic():
            post_as_peer(world, "client-rolled-back")
            raise Abandoned

    before = scrape(client)
    with on_commit(), pytest.raises(Abandoned):
        post_then_fail()

    assert grew(before, scrape(client)) == {}


# peerlink_sms_delivery_seconds -----------------------------------------------------------


def delivery(samples: Samples) -> dict[str, float]:
    """The histogram's count, sum and buckets (by `le`)."""
    found = {
        "count": single(samples, "peerlink_sms_delivery_seconds_count"),
        "sum": single(samples, "peerlink_sms_delivery_seconds_sum"),
    }
    found.update(values(samples, "peerlink_sms_delivery_seconds_bucket", "le"))
    return found


def change(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: round(after[key] - before[key], 6) for key in after if after[key] != before[key]}


def send_at(world: World, fake_twilio: Any, on_commit: Any, when: dt.datetime) -> SentSms:
    """A peer supporter's message to the person (who reads by SMS), handed to the fake Twilio
    at `when`."""
    with clock(when), on_commit():
        post_as_peer(world, f"sms-{uuid.uuid4().hex}")
    sms: SentSms = fake_twilio.sent[-1]
    outbox = SmsOutbox.objects.get(provider_message_id=sms.sid)
    assert (outbox.status, outbox.sent_at) == (OutboxStatus.SENT, when)
    return sms


def report(sms: SentSms, status: str, when: dt.datetime, on_commit: Any) -> None:
    """Twilio's signed status callback for `sms`, arriving at `when`."""
    with clock(when), on_commit():
        response = status_callback(Client(raise_request_exception=False), sms, status)
    assert response.status_code == 200


def test_the_first_delivered_report_observes_the_time_since_the_hand_over(
    client: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    sms = send_at(world, fake_twilio, on_commit, T0)
    before = delivery(scrape(client))

    report(sms, "sent", T0 + 5 * SECOND, on_commit)
    report(sms, "delivered", T0 + 42 * SECOND, on_commit)
    # Repeats and later reports move nothing, so they observe nothing.
    report(sms, "delivered", T0 + 50 * SECOND, on_commit)
    report(sms, "read", T0 + 90 * SECOND, on_commit)

    moved = change(before, delivery(scrape(client)))
    # One observation of 42 s: counted in every bucket from 60 s up.
    assert moved == {
        "count": 1.0,
        "sum": 42.0,
        **{le: 1.0 for le in ["60.0", "120.0", "300.0", "600.0", "1200.0", "1800.0", "3600.0"]},
        "+Inf": 1.0,
    }
    assert SmsOutbox.objects.get(provider_message_id=sms.sid).delivery_status == "delivered"


@pytest.mark.parametrize("status", ["undelivered", "failed"])
def test_a_report_of_no_delivery_observes_nothing(
    client: Client, world: World, fake_twilio: Any, on_commit: Any, status: str
) -> None:
    sms = send_at(world, fake_twilio, on_commit, T0)
    before = delivery(scrape(client))

    report(sms, status, T0 + 10 * SECOND, on_commit)
    report(sms, "delivered", T0 + 20 * SECOND, on_commit)  # too late: the first final stands

    assert change(before, delivery(scrape(client))) == {}
    assert SmsOutbox.objects.get(provider_message_id=sms.sid).delivery_status == status


def test_the_buckets_run_from_a_second_to_an_hour(client: Client, db: None) -> None:
    buckets = set(values(scrape(client), "peerlink_sms_delivery_seconds_bucket", "le"))

    assert {"1.0", "3600.0", "+Inf"} <= buckets
    assert min(float(le) for le in buckets) == 1.0


# peerlink_websocket_connections ----------------------------------------------------------


@pytest.fixture
def chat_world(transactional_db: None) -> World:
    return make_world()


@pytest.fixture
async def sockets(transactional_db: None) -> AsyncIterator[list[WebsocketCommunicator]]:
    """Sockets to the real ASGI application (auth middleware included) on a fresh in-memory
    layer; whatever a test leaves open is closed before the database is reset."""
    channel_layers.backends.clear()
    opened: list[WebsocketCommunicator] = []
    yield opened
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()
    channel_layers.backends.clear()


async def open_socket(
    opened: list[WebsocketCommunicator], user: Any = None
) -> WebsocketCommunicator:
    """A socket for `user` (by a single-use ticket), or one with no credentials at all."""
    from peerlink.asgi import application

    path = "/ws/"
    if user is not None:
        path += f"?ticket={await database_sync_to_async(issue_ws_ticket)(user=user)}"
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    opened.append(communicator)
    return communicator


async def open_sockets() -> float:
    samples = await database_sync_to_async(scrape)(Client())
    return single(samples, "peerlink_websocket_connections")


async def test_open_sockets_are_counted_while_they_are_open(
    chat_world: World, sockets: list[WebsocketCommunicator]
) -> None:
    before = await open_sockets()

    peer = await open_socket(sockets, chat_world.peer)
    supervisor = await open_socket(sockets, chat_world.supervisor)
    assert await open_sockets() == before + 2

    await peer.disconnect()
    assert await open_sockets() == before + 1
    await supervisor.disconnect()
    assert await open_sockets() == before


async def test_a_refused_socket_is_never_counted(
    chat_world: World, sockets: list[WebsocketCommunicator]
) -> None:
    before = await open_sockets()

    refused = await open_socket(sockets)
    assert await refused.receive_output(timeout=TIMEOUT) == {
        "type": "websocket.close",
        "code": 4401,
    }
    assert await open_sockets() == before
    await refused.disconnect()
    assert await open_sockets() == before


def test_a_socket_is_uncounted_once_however_many_ways_it_ends() -> None:
    # The consumer uncounts on disconnect and again when it stops (an error, a cancelled
    # task): the second must change nothing, and a socket never accepted changes nothing.
    # The gauge itself, not a scrape: no database here.
    from messaging.metrics import WEBSOCKET_CONNECTIONS

    def gauge() -> float:
        (family,) = WEBSOCKET_CONNECTIONS.collect()
        return family.samples[0].value

    before = gauge()
    socket, never_accepted = WebsocketCount(), WebsocketCount()
    socket.opened()
    socket.opened()
    assert gauge() == before + 1
    socket.closed()
    socket.closed()
    never_accepted.closed()
    assert gauge() == before


# peerlink_sms_outbox_backlog{status}, peerlink_sms_outbox_oldest_seconds ------------------


def outbox(samples: Samples) -> tuple[dict[str, float], float]:
    return (
        values(samples, "peerlink_sms_outbox_backlog", "status"),
        single(samples, "peerlink_sms_outbox_oldest_seconds"),
    )


def test_outbox_backlog_and_age_are_zero_without_waiting_rows(client: Client, db: None) -> None:
    assert outbox(scrape(client)) == ({"pending": 0.0, "sending": 0.0}, 0.0)


def test_outbox_backlog_counts_rows_not_yet_handed_over_and_the_oldest_ones_age(
    client: Client, world: World
) -> None:
    SmsOutbox.objects.all().delete()  # whatever setting up the world queued
    # Posted without running the after-commit doorbells: the rows wait, as when the broker
    # is down or the workers are behind.
    with clock(T0):
        first = post_as_peer(world, "waiting-1").message
    with clock(T0 + 30 * SECOND):
        second = post_as_peer(world, "waiting-2").message
        post_as_peer(world, "waiting-3")
    with clock(T0 + 60 * SECOND):
        claimed = claim(outbox_id=SmsOutbox.objects.get(message=second).pk)  # a worker has it
    assert not isinstance(claimed, str)

    with clock(T0 + 90 * SECOND):
        assert outbox(scrape(client)) == ({"pending": 2.0, "sending": 1.0}, 90.0)

    with clock(T0 + 100 * SECOND):
        assert send_outbox(outbox_id=SmsOutbox.objects.get(message=first).pk) == "sent"
    with clock(T0 + 120 * SECOND):
        assert outbox(scrape(client)) == ({"pending": 1.0, "sending": 1.0}, 90.0)


def test_a_retry_waiting_for_its_time_is_still_in_the_backlog(
    client: Client, world: World, fake_twilio: Any
) -> None:
    from tests.support.fake_twilio import Failure

    SmsOutbox.objects.all().delete()
    with clock(T0):
        message = post_as_peer(world, "retrying").message
        fake_twilio.fail_next(Failure(status=500))
        assert send_outbox(outbox_id=SmsOutbox.objects.get(message=message).pk) == "retry"
    row = SmsOutbox.objects.get(message=message)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)

    with clock(T0 + 15 * SECOND):
        assert outbox(scrape(client)) == ({"pending": 1.0, "sending": 0.0}, 15.0)


# peerlink_scheduled_sends_due_lag_seconds ------------------------------------------------

ENROLLED = "2027-01-04T18:00"  # Monday, 11:00 in Edmonton
DAY_1 = utc("2027-01-05T17:00")  # the first text: 10:00 the next day


def due_lag(client: Client, when: dt.datetime) -> float:
    with clock(when):
        return single(scrape(client), "peerlink_scheduled_sends_due_lag_seconds")


def test_due_lag_is_how_long_the_oldest_due_text_has_waited(client: Client, db: None) -> None:
    programme = text_programme()
    with clock(ENROLLED):
        enrol_for_texts(programme)
    with clock(DAY_1 + 2 * SECOND):
        enrol_for_texts(programme)  # due at the same time tomorrow, not yet

    assert due_lag(client, DAY_1 - SECOND) == 0.0
    assert due_lag(client, DAY_1 + 300 * SECOND) == 300.0

    dispatch(DAY_1 + 300 * SECOND)

    # Sent, and the next one is planned for tomorrow: nothing is due.
    assert due_lag(client, DAY_1 + 301 * SECOND) == 0.0


# peerlink_risk_alerts_open, peerlink_risk_alerts_unacknowledged ---------------------------


def alerts(client: Client) -> tuple[float, float]:
    samples = scrape(client)
    return (
        single(samples, "peerlink_risk_alerts_open"),
        single(samples, "peerlink_risk_alerts_unacknowledged"),
    )


def open_alert(enrolment: Enrolment, key: str) -> Any:
    return raise_signal(
        source="survey",
        source_key=key,
        severity="high",
        categories=["suicide"],
        enrolment=enrolment,
    )


def test_risk_alert_gauges_follow_alerts_from_open_to_resolved(
    client: Client, world: World
) -> None:
    assert alerts(client) == (0.0, 0.0)

    first = open_alert(world.own, "survey:metrics-1")
    open_alert(world.own, "survey:metrics-2")  # joins the same unresolved alert
    second = open_alert(world.others, "survey:metrics-3")
    assert alerts(client) == (2.0, 2.0)

    acknowledge_alert(alert_id=first.pk, by=world.peer)
    assert alerts(client) == (2.0, 1.0)

    resolve_alert(alert_id=first.pk, by=world.supervisor, resolution=Resolution.SAFE)
    resolve_alert(alert_id=second.pk, by=world.supervisor, resolution=Resolution.FALSE_POSITIVE)
    assert alerts(client) == (0.0, 0.0)


# peerlink_survey_sessions{state} ---------------------------------------------------------

SURVEY_ENROLLED = "2026-12-01T17:00"  # 10:00 in Edmonton
SURVEY_OPENS = utc("2026-12-01T18:00")  # the baseline opens at 11:00


def sessions(client: Client) -> dict[str, float]:
    return values(scrape(client), "peerlink_survey_sessions", "state")


def test_survey_sessions_report_every_state_at_zero_when_empty(client: Client, db: None) -> None:
    assert sessions(client) == dict.fromkeys(SessionState.values, 0.0)


def test_survey_sessions_are_counted_by_state_as_people_complete_them(
    client: Client, db: None
) -> None:
    programme = survey_programme()
    answering = enrol_at(programme, SURVEY_ENROLLED)
    enrol_at(programme, SURVEY_ENROLLED)
    assert sessions(client) == {**dict.fromkeys(SessionState.values, 0.0), "planned": 2.0}

    tick(SURVEY_OPENS)
    assert sessions(client) == {**dict.fromkeys(SessionState.values, 0.0), "invited": 2.0}

    for minute, value in enumerate(["0", "1", "2", "3", "0", "1", "2", "3", "0", "1"], start=1):
        reply(client, answering, value, SURVEY_OPENS + dt.timedelta(minutes=minute))
    assert sessions(client) == {
        **dict.fromkeys(SessionState.values, 0.0),
        "invited": 1.0,
        "completed": 1.0,
    }


# Labels: codes only ----------------------------------------------------------------------

# A code: lower case, digits, `_`, `-` and `:` (as in "stopped:opted_out"), short.
CODE = re.compile(r"[a-z][a-z0-9_:-]{0,39}")
# Histogram bucket bounds.
BOUND = re.compile(r"\+Inf|[0-9]+(\.[0-9]+)?")
UUID_LIKE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}")
NUMBER_LIKE = re.compile(r"\+?[0-9][0-9 ().-]{5,}")


def test_no_label_of_any_project_metric_holds_an_id_a_number_or_text(
    client: Client, world: World, fake_twilio: Any, on_commit: Any
) -> None:
    # Every scenario above, at once: messages in and out (and replays), an SMS sent and
    # reported delivered, a text from a number nobody has, an alert, a survey session.
    body = "Here is my number 780 555 0199, call me at the clinic on Main Street."
    with on_commit():
        post_as_peer(world, "labels-1", body="How are you today?")
        post_as_peer(world, "labels-1", body="How are you today?")
    sent = send_at(world, fake_twilio, on_commit, timezone.now())
    report(sent, "delivered", timezone.now(), on_commit)
    sid = "SM" + uuid.uuid4().hex
    stranger = fictional_phone()
    with on_commit():
        inbound(client, sender=phone_of(world.own), body=body, message_sid=sid)
        inbound(client, sender=phone_of(world.own), body=body, message_sid=sid)
        inbound(client, sender=stranger, body=body)
    open_alert(world.own, "survey:labels")
    survey_person = enrol_at(survey_programme(slug="labels"), SURVEY_ENROLLED)

    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    samples = scrape(client)

    # Nothing that names a person, a conversation or a message, anywhere in the exposition.
    personal = {
        phone_of(world.own),
        phone_of(world.others),
        stranger,
        participant_profile(world.own.participant).name,
        sent.sid,
        sid,
        "labels-1",
        body,
        "How are you today?",
        str(conversation_of(world).pk),
        str(survey_person.pk),
        world.own.participant.phone_index,
    }
    leaked = {secret for secret in personal if secret and secret in text}
    assert leaked == set()
    # Short ones ("peer", "7") are parts of ordinary words and numbers: no label may be one.
    users = [world.peer, world.supervisor, world.own.participant.user]
    accounts = {user.username for user in users} | {str(user.pk) for user in users}

    project = {name: series for name, series in samples.items() if name.startswith("peerlink_")}
    assert project
    for name, series in project.items():
        for labels in series:
            for label, value in labels:
                where = f"{name}{{{label}={value!r}}}"
                if label == "le":
                    assert BOUND.fullmatch(value), where
                    continue
                assert CODE.fullmatch(value), where
                assert value not in accounts, where
                assert not UUID_LIKE.search(value), where
                assert not NUMBER_LIKE.search(value), where
    # The scenarios reached the metrics they are about.
    assert messages(samples)[("sms", "in")] >= 1
    assert delivery(samples)["count"] >= 1
    assert values(samples, "peerlink_sms_inbound_total", "outcome")["unknown_sender"] >= 1
    assert single(samples, "peerlink_risk_alerts_open") == 1.0
    assert values(samples, "peerlink_survey_sessions", "state")["planned"] == 1.0
