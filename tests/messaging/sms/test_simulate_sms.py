"""`manage.py simulate_sms --from NUMBER TEXT` posts a correctly signed inbound webhook to a
running server (here pytest-django's live server), for demos and manual tests."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from messaging.models import InboundSms, Message, MessageChannel
from people.selectors import participant_profile
from tests.support.factories import World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def public_url_is_the_live_server(live_server, settings):  # type: ignore[no-untyped-def]
    settings.PEERLINK_PUBLIC_URL = live_server.url
    return live_server


def test_a_simulated_text_lands_in_the_persons_conversation(
    world: World, public_url_is_the_live_server
) -> None:  # type: ignore[no-untyped-def]
    phone = participant_profile(world.own.participant).phone
    out = StringIO()
    call_command("simulate_sms", "--from", phone, "Hello", "from", "the", "demo", stdout=out)
    message = Message.objects.get(channel=MessageChannel.SMS)
    assert message.conversation.enrolment == world.own
    assert "HTTP 200" in out.getvalue()
    assert phone not in out.getvalue() and "Hello" not in out.getvalue()


def test_replaying_a_sid_stores_the_text_once(world: World, public_url_is_the_live_server) -> None:  # type: ignore[no-untyped-def]
    phone = participant_profile(world.own.participant).phone
    sid = "SM" + "a" * 32
    for _ in range(2):
        call_command("simulate_sms", "--from", phone, "--sid", sid, "again", stdout=StringIO())
    assert InboundSms.objects.filter(message_sid=sid).count() == 1
    assert Message.objects.filter(client_id=f"sms:{sid}").count() == 1


def test_a_number_that_is_not_e164_is_refused_before_anything_is_posted(
    world: World, public_url_is_the_live_server
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match=r"E\.164"):
        call_command("simulate_sms", "--from", "7805550101", "hi", stdout=StringIO())
    assert not InboundSms.objects.exists()


def test_a_server_signing_with_another_token_refuses_it(
    world: World, public_url_is_the_live_server, settings
) -> None:  # type: ignore[no-untyped-def]
    # The command signs with the token it is configured with; the server checks with its own.
    from messaging.sms import simulate

    phone = participant_profile(world.own.participant).phone
    params = simulate.inbound_params(sender=phone, body="hi")
    forged = simulate.signed_request(simulate.inbound_url(), params, token="someone-else")
    assert simulate.post(forged) == 403
    assert not InboundSms.objects.exists()
