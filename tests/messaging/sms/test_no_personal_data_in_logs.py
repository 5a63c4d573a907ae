"""Nothing personal in logs (DESIGN.md §5): across every SMS path (texts in, keywords,
unknown numbers, replies out, provider failures and retries, the carrier's opt-out, status
callbacks known and unknown), no log line and no logged exception holds a phone number, in
any spelling, or a message body. Everything is logged at DEBUG while it runs."""

from __future__ import annotations

import logging

import phonenumbers
import pytest
from django.test import Client

from messaging.models import Conversation, SmsOutbox
from messaging.services import post_message
from messaging.sms.delivery import send_outbox
from people.selectors import participant_profile
from tests.support import sms
from tests.support.factories import World, fictional_phone
from tests.support.fake_twilio import Failure

pytestmark = pytest.mark.django_db

BODIES = [
    "my private words about last night",
    "HELP",
    "stop",
    "START",
    "who is this? I got this number from a friend",
    "a reply the peer wrote just for them",
    "a reply that the provider refuses",
]


def spellings(e164: str) -> set[str]:
    number = phonenumbers.parse(e164, None)
    national = str(number.national_number)
    return {
        e164,
        e164.lstrip("+"),
        national,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        national[-7:],  # the local part alone still identifies a person
    }


def test_no_sms_path_logs_a_number_or_a_body(
    world: World, fake_twilio, django_capture_on_commit_callbacks, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    client = Client()
    phone = participant_profile(world.own.participant).phone
    stranger = fictional_phone()
    conversation = Conversation.objects.get(enrolment=world.own)
    with django_capture_on_commit_callbacks(execute=True):
        sms.inbound(client, sender=phone, body=BODIES[0])
        sms.inbound(client, sender=phone, body=BODIES[1])
        sms.inbound(client, sender=stranger, body=BODIES[4])
        fake_twilio.fail_next(Failure(status=500))
        post_message(
            conversation_id=conversation.pk,
            sender=world.peer,
            sender_role="peer_supporter",
            channel="web",
            body=BODIES[5],
            client_id="reply-1",
        )
    retry = SmsOutbox.objects.get(message__client_id="reply-1")
    send_outbox(outbox_id=retry.pk)
    for sent in list(fake_twilio.sent):
        sms.status_callback(client, sent, "delivered")
    sms.post_signed(
        client,
        sms.status_url("outbox=999999"),
        {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered", "To": phone},
    )
    with django_capture_on_commit_callbacks(execute=True):
        fake_twilio.fail_next(Failure(status=400, code=21610))
        post_message(
            conversation_id=conversation.pk,
            sender=world.peer,
            sender_role="peer_supporter",
            channel="web",
            body=BODIES[6],
            client_id="reply-2",
        )
        sms.inbound(client, sender=phone, body=BODIES[3])
        sms.inbound(client, sender=phone, body=BODIES[2])

    assert len(caplog.records) > 10, "the scenario logged nothing: the check would prove nothing"
    secrets_ = spellings(phone) | spellings(stranger) | {b for b in BODIES if len(b) > 5}
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        leaked = {secret for secret in secrets_ if secret in text}
        assert not leaked, f"{record.name} logged personal data"
