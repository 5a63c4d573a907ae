"""The demo's supportive texts (issue 7, "Done when"): `seed_demo` gives the demo programme a
schedule over an approved copy of the sample library, with a send time a few minutes after
seeding; when it comes, the local profile's beat task sends each demo person in a texts arm
their first text: in the web thread, or by SMS (the console). Texts are the shipped samples."""

from __future__ import annotations

import io

import pytest
import time_machine
from django.core.management import call_command

from messaging.models import Message, MessageChannel, OutboxPurpose, SmsOutbox
from peerlink.local_beat import _run_task, load_tasks
from people.models import Channel
from programmes.models import Enrolment, Programme, Site
from programmes.services import enrol_participant
from scheduling.demo import DEMO_APPROVER, DEMO_LIBRARY
from scheduling.models import LibraryMessage, MessageLibrary, PendingSend, SendRecord, Stream
from tests.scheduling.texts import utc
from tests.support.factories import fictional_phone

pytestmark = pytest.mark.django_db

# 12:00 in Edmonton, a winter weekday: the demo's second send time becomes 12:05.
SEEDED = utc("2027-01-12T19:00")


def _seed() -> str:
    out = io.StringIO()
    with time_machine.travel(SEEDED, tick=False):
        call_command("seed_demo", stdout=out)
        # The arms are drawn at random: make sure someone in the demo gets texts.
        programme = Programme.objects.get(slug="demo")
        while not Enrolment.objects.filter(
            programme=programme, arm__supportive_texts=True, participant__language="en"
        ).exists():
            enrol_participant(
                programme=programme,
                site=Site.objects.get(programme=programme, code="edmonton"),
                name="Extra Demo",
                phone=fictional_phone(),
                language="en",
                time_zone="America/Edmonton",
                preferred_channel=Channel.WEB,
                enrolled_by=None,
                sms_consent_version="demo-1",
            )
    return out.getvalue()


def test_the_demo_library_is_an_approved_copy_of_the_samples_labelled_demo_only() -> None:
    _seed()
    library = MessageLibrary.objects.get(slug=DEMO_LIBRARY)
    assert library.is_sample
    approvers = set(
        LibraryMessage.objects.filter(library=library).values_list("approver", flat=True)
    )
    assert approvers == {DEMO_APPROVER}
    # The shipped library itself stays unapproved (it is not imported by the demo).
    assert not LibraryMessage.objects.exclude(library=library).exclude(approver="").exists()


def test_seed_demo_prints_when_the_next_demo_text_is_due() -> None:
    output = _seed()
    assert "next supportive text" in output
    assert "12:05 America/Edmonton" in output


def test_every_english_demo_person_in_a_texts_arm_gets_their_first_text_at_the_send_time() -> None:
    _seed()
    assert "scheduling.dispatch_due" in load_tasks()
    texted = Enrolment.objects.filter(
        programme__slug="demo", arm__supportive_texts=True, participant__language="en"
    )
    with time_machine.travel(utc("2027-01-12T19:04"), tick=False):
        _run_task("scheduling.dispatch_due")
    assert not SendRecord.objects.exists()
    with time_machine.travel(utc("2027-01-12T19:05"), tick=False):
        _run_task("scheduling.dispatch_due")
    for enrolment in texted:
        record = SendRecord.objects.get(pending_send__enrolment=enrolment)
        assert record.outcome == "sent"
        if hasattr(enrolment, "conversation"):
            message = Message.objects.get(pk=record.message_id)
            assert message.channel == MessageChannel.AUTOMATED
            if enrolment.participant.preferred_channel == Channel.SMS:
                assert message.sms_outbox.purpose == OutboxPurpose.AUTOMATED
        else:
            assert SmsOutbox.objects.filter(scheduled_send=record).exists()


def test_demo_people_without_texts_in_their_arm_have_no_supportive_stream() -> None:
    _seed()
    assert not PendingSend.objects.filter(
        stream=Stream.SUPPORTIVE, enrolment__arm__supportive_texts=False, state="scheduled"
    ).exists()
