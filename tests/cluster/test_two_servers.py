"""Two ASGI servers behind no proxy at all: a client on either reaches a client on the other,
through the Redis channel layer, and an SMS webhook taken by one server reaches a peer
supporter connected to the other."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.test_sms_end_to_end import delivery_to, text_in
from tests.e2e.ws_client import open_client, send_frame
from tests.support.fake_twilio import FakeTwilioServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_message_sent_on_one_server_reaches_a_socket_on_the_other(
    two_servers: Cluster,
) -> None:
    a, b = two_servers.servers
    world = a.run_script("world", "cluster-chat", "1")
    assert isinstance(world, dict)
    conversation, peer_id, person_id = world["conversation"], world["peer"], world["participant"]
    tickets = a.tickets(peer_id, person_id)
    peer = await open_client(a, "peer on server A", tickets[peer_id])
    person = await open_client(b, "person on server B", tickets[person_id])
    try:
        await peer.ping()
        await person.ping()
        await peer.send(send_frame(conversation, "a-1", "Sent on A, read on B"))
        sent = await peer.ack("a-1")
        assert (await person.message("Sent on A, read on B"))["id"] == sent["id"]
        await person.send(send_frame(conversation, "b-1", "Sent on B, read on A"))
        answered = await person.ack("b-1")
        assert (await peer.message("Sent on B, read on A"))["id"] == answered["id"]
        assert [sent["seq"], answered["seq"]] == [1, 2]
    finally:
        await peer.close()
        await person.close()
    a.assert_log_clean()


async def test_a_text_taken_by_one_server_reaches_the_peer_supporter_on_the_other(
    two_servers: Cluster, twilio_over_http: FakeTwilioServer
) -> None:
    a, b = two_servers.servers
    world = a.run_script("sms-world", "cluster-sms", "2")
    assert isinstance(world, dict)
    conversation, peer_id, phone = world["conversation"], world["peer"], world["phone"]
    peer = await open_client(a, "peer on server A", a.tickets(peer_id)[peer_id])
    try:
        await peer.ping()
        # Twilio posts to server B (signed for B's address): the peer on A reads it live.
        assert await text_in(b, phone, "Texting server B") == 200
        texted = await peer.message("Texting server B")
        assert (texted["channel"], texted["sender"]["role"]) == ("sms", "participant")
        # The reply goes out through a worker, and Twilio's callbacks (to A) reach the peer.
        await peer.send(send_frame(conversation, "a-reply", "Got it, from A"))
        reply = await peer.ack("a-reply")
        await delivery_to(peer, reply["id"], "delivered")
        assert twilio_over_http.api.bodies_to(phone) == ["Got it, from A"]
    finally:
        await peer.close()
    a.assert_log_clean()
