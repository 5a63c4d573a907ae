"""What a stolen database file or backup would show: no names, phone numbers, message bodies
or case notes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from messaging.models import Conversation, Message
from messaging.services import add_case_note, post_message
from people.services import grant_consent
from programmes import services
from programmes.models import HandoffReason, Role, Site
from tests.support.factories import enrol, make_programme, make_staff

BODIES = [
    "Quixotic lanterns drift over the marmalade harbour tonight",
    "Ünïcödé bödy wïth áccents and 漢字 in the middle of it",
]
NOTE = "Case note: xylophone-sprocket plan agreed for Thursday"

# Distinctive fictional names, so that a hit can't be a coincidence.
PEOPLE = [
    ("Zebedee Quintrell", "+17805550161"),
    ("Oriana Feldspar-Mbeki", "+14035550162"),
    ("Łucja Ñandú-Østergaard", "+17805550163"),
]


@pytest.mark.django_db(transaction=True)
def test_no_name_phone_number_body_or_note_appears_in_the_raw_database(
    raw_database_bytes: Callable[[], bytes],
) -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    for name, phone in PEOPLE:
        enrolment = services.enrol_participant(
            programme=programme,
            site=Site.objects.get(programme=programme, code="north"),
            name=name,
            phone=phone,
            language="en",
            time_zone="America/Edmonton",
            enrolled_by=None,
            sms_consent_version="v1",
            research_consent_version="v1",
        )
        grant_consent(participant=enrolment.participant, kind="sms", version="v2", source="staff")
        if enrolment.arm.peer_support or not Conversation.objects.exists():
            if not enrolment.arm.peer_support:
                # Make sure at least one conversation holds messages, whatever the draw.
                enrolment = enrol(programme, name=name, peer_support=True)
            services.assign_peer_supporter(
                enrolment=enrolment,
                peer_supporter=peer,
                assigned_by=None,
                reason=HandoffReason.INITIAL,
            )
            conversation = Conversation.objects.get(enrolment=enrolment)
            for index, body in enumerate(BODIES):
                post_message(
                    conversation_id=conversation.pk,
                    sender=peer,
                    sender_role="peer_supporter",
                    channel="web",
                    body=body,
                    client_id=f"scan-{index}",
                )
            add_case_note(conversation=conversation, author=peer, body=NOTE)
    assert Message.objects.count() >= len(BODIES)
    if connection.vendor == "sqlite":
        connection.close()  # flush everything to the file we are about to read
    raw = raw_database_bytes()
    assert len(raw) > 10_000, "the scan must see the real database"
    assert b"people_participant" in raw
    for secret in (*BODIES, NOTE):
        for needle in (secret, secret[:24], secret[-24:]):
            for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
                assert encoded not in raw, "a message body or note was stored in plaintext"
    for name, phone in PEOPLE:
        for needle in (name, *name.split(), phone, phone[2:], phone[-7:]):
            for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
                assert encoded not in raw, "a name or phone number was stored in plaintext"
