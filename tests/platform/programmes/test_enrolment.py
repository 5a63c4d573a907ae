from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from people.models import ConsentRecord, Participant, User
from people.selectors import participant_profile
from programmes import services
from programmes.models import AgeBand, Enrolment, Gender, RandomisationBlock, Site
from tests.support.factories import enrol, fictional_phone, make_programme

pytestmark = pytest.mark.django_db


def _enrol(programme, **overrides):  # type: ignore[no-untyped-def]
    kwargs = {
        "programme": programme,
        "site": Site.objects.get(programme=programme, code="north"),
        "name": "Robin Example",
        "phone": fictional_phone(),
        "language": "en",
        "time_zone": "America/Edmonton",
        "enrolled_by": None,
    }
    kwargs.update(overrides)
    return services.enrol_participant(**kwargs)


def _row_counts() -> tuple[int, ...]:
    return (
        Participant.objects.count(),
        Enrolment.objects.count(),
        User.objects.count(),
        ConsentRecord.objects.count(),
        RandomisationBlock.objects.count(),
        AuditEntry.objects.count(),
    )


def test_enrolment_stores_the_profile_encrypted_and_readable_through_the_selector() -> None:
    programme = make_programme()
    phone = fictional_phone()
    enrolment = _enrol(programme, name="Robin Example", phone=phone)
    participant = Participant.objects.get(pk=enrolment.participant_id)
    assert b"Robin" not in bytes(participant.name_ciphertext)
    assert phone.encode() not in bytes(participant.phone_ciphertext)
    profile = participant_profile(participant)
    assert (profile.name, profile.phone) == ("Robin Example", phone)


def test_enrolment_normalises_the_phone_number_to_e164() -> None:
    programme = make_programme()
    enrolment = _enrol(programme, phone="(780) 555-0142")
    assert participant_profile(enrolment.participant).phone == "+17805550142"


def test_enrolment_reveals_the_allocation_in_the_audit_log() -> None:
    programme = make_programme()
    enrolment = _enrol(programme)
    reveal = AuditEntry.objects.get(action="allocation.revealed", target_id=str(enrolment.id))
    assert reveal.details["arm"] == enrolment.arm.code
    assert AuditEntry.objects.filter(
        action="enrolment.created", target_id=str(enrolment.id)
    ).exists()


def test_enrolment_records_versioned_consents() -> None:
    programme = make_programme()
    enrolment = _enrol(programme, sms_consent_version="sms-2", research_consent_version="r-3")
    consents = {c.kind: c for c in ConsentRecord.objects.filter(participant=enrolment.participant)}
    assert consents["sms"].version == "sms-2"
    assert consents["sms"].programme_id is None
    assert consents["research"].version == "r-3"
    assert consents["research"].programme_id == programme.id


def test_duplicate_enrolment_is_refused_and_writes_nothing() -> None:
    programme = make_programme()
    phone = fictional_phone()
    _enrol(programme, phone=phone)
    before = _row_counts()
    with pytest.raises(Conflict) as excinfo:
        _enrol(programme, phone=phone)
    assert excinfo.value.code == "already_enrolled"
    assert _row_counts() == before


def test_a_known_person_can_join_a_second_programme_without_a_second_identity() -> None:
    first, second = make_programme("first"), make_programme("second")
    phone = fictional_phone()
    a = _enrol(first, phone=phone)
    b = _enrol(second, phone=phone, site=Site.objects.get(programme=second, code="north"))
    assert a.participant_id == b.participant_id


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"phone": "not a number"}, "invalid_phone"),
        ({"phone": "+1 555 555 0100"}, "invalid_phone"),
        ({"time_zone": "Mars/Olympus_Mons"}, "invalid_time_zone"),
        ({"language": "xx"}, "invalid_language"),
        ({"name": "   "}, "invalid_name"),
        ({"preferred_channel": "pigeon"}, "invalid_channel"),
        ({"discharge_date": timezone.localdate() + dt.timedelta(days=2)}, "invalid_discharge_date"),
        ({"age_band": "90+"}, "invalid_age_band"),
        ({"age_band": "1980-04-01"}, "invalid_age_band"),
        ({"gender": "female"}, "invalid_gender"),
    ],
)
def test_bad_enrolment_input_gets_a_clear_error_and_writes_nothing(overrides, code) -> None:  # type: ignore[no-untyped-def]
    programme = make_programme()
    before = _row_counts()
    with pytest.raises(DomainError) as excinfo:
        _enrol(programme, **overrides)
    assert excinfo.value.code == code
    assert _row_counts() == before


def test_enrolment_stores_the_age_band_and_gender() -> None:
    programme = make_programme()
    enrolment = _enrol(programme, age_band=AgeBand.AGE_35_44, gender=Gender.NON_BINARY)
    enrolment.refresh_from_db()
    assert (enrolment.age_band, enrolment.gender) == ("35-44", "non_binary")


def test_age_band_and_gender_default_to_not_recorded() -> None:
    programme = make_programme()
    enrolment = _enrol(programme)
    enrolment.refresh_from_db()
    assert (enrolment.age_band, enrolment.gender) == ("not_recorded", "not_recorded")


def test_enrolment_audit_entry_holds_no_age_band_or_gender() -> None:
    programme = make_programme()
    enrolment = _enrol(programme, age_band=AgeBand.AGE_18_24, gender=Gender.WOMAN)
    for entry in AuditEntry.objects.filter(target_id=str(enrolment.id)):
        assert "age_band" not in entry.details
        assert "gender" not in entry.details


def test_error_messages_never_repeat_the_phone_number() -> None:
    programme = make_programme()
    with pytest.raises(DomainError) as excinfo:
        _enrol(programme, phone="+1 555 555 0100")
    assert "555" not in str(excinfo.value)


def test_site_of_another_programme_is_refused() -> None:
    programme, other = make_programme("one"), make_programme("two")
    with pytest.raises(DomainError) as excinfo:
        _enrol(programme, site=Site.objects.get(programme=other, code="north"))
    assert excinfo.value.code == "invalid_site"


def test_full_stratum_refuses_enrolment_and_writes_nothing() -> None:
    programme = make_programme()
    programme.max_enrolments_per_stratum = 2
    programme.save()
    _enrol(programme)
    _enrol(programme)
    before = _row_counts()
    with pytest.raises(Conflict) as excinfo:
        _enrol(programme)
    assert excinfo.value.code == "stratum_full"
    assert _row_counts() == before
    # Another stratum (site) still has room.
    _enrol(programme, site=Site.objects.get(programme=programme, code="south"))


def test_factory_enrol_gives_the_requested_arm() -> None:
    programme = make_programme()
    assert enrol(programme, peer_support=False).arm.peer_support is False
