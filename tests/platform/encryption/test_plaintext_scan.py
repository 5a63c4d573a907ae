"""What a stolen database file or backup would show: no names, no phone numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from people.services import grant_consent
from programmes import services
from programmes.models import HandoffReason, Role, Site
from tests.support.factories import make_programme, make_staff

# Distinctive fictional names, so that a hit can't be a coincidence.
PEOPLE = [
    ("Zebedee Quintrell", "+17805550161"),
    ("Oriana Feldspar-Mbeki", "+14035550162"),
    ("Łucja Ñandú-Østergaard", "+17805550163"),
]


@pytest.mark.django_db(transaction=True)
def test_no_name_or_phone_number_appears_in_the_raw_database(
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
        if enrolment.arm.peer_support:
            services.assign_peer_supporter(
                enrolment=enrolment,
                peer_supporter=peer,
                assigned_by=None,
                reason=HandoffReason.INITIAL,
            )
    if connection.vendor == "sqlite":
        connection.close()  # flush everything to the file we are about to read
    raw = raw_database_bytes()
    assert len(raw) > 10_000, "the scan must see the real database"
    assert b"people_participant" in raw
    for name, phone in PEOPLE:
        for needle in (name, *name.split(), phone, phone[2:], phone[-7:]):
            for encoded in {needle.encode("utf-8"), needle.encode("utf-16-le")}:
                assert encoded not in raw, "a name or phone number was stored in plaintext"
