import pytest
from messaging.models import InboundSms, Message, Conversation
from messaging.selectors import messages_after
from people.selectors import participant_profile
from tests.support import sms

pytestmark = pytest.mark.django_db


def test_probe(world, client, fake_twilio, django_capture_on_commit_callbacks):
    phone = participant_profile(world.own.participant).phone
    with django_capture_on_commit_callbacks(execute=True) as cbs:
        r = sms.inbound(client, sender=phone, body="hello")
    print(r.status_code, r.content, len(cbs))
    conv = Conversation.objects.get(enrolment=world.own)
    print(messages_after(conv, after_seq=0))
    print(list(InboundSms.objects.values()))
    r = sms.inbound(client, sender=phone, body="x", NumMedia="²")
    print(r.status_code)
