"""A staff member's escalation phone: stored as ciphertext under their own data key, readable
only through `staff_phone`, and masked in every response."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.models import AuditEntry
from peerlink.errors import DomainError
from people.models import User
from staffing.models import StaffContact
from staffing.services import set_staff_phone, staff_phone
from tests.support.factories import fictional_phone, signed_in_client

pytestmark = pytest.mark.django_db


def _raw_ciphertext(user: User) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT phone_ciphertext FROM staffing_staffcontact WHERE user_id = %s", [user.pk]
        )
        (value,) = cursor.fetchone()
    return bytes(value)


def test_the_phone_is_stored_as_ciphertext(peer: User) -> None:
    phone = fictional_phone()
    set_staff_phone(user=peer, phone=phone, changed_by=peer)
    raw = _raw_ciphertext(peer)
    assert phone.encode() not in raw
    assert phone[2:].encode() not in raw  # nor the national digits


def test_the_phone_reads_back_in_e164(peer: User) -> None:
    phone = fictional_phone()
    national = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    set_staff_phone(user=peer, phone=national, changed_by=peer)
    assert staff_phone(peer.pk) == phone


def test_someone_without_a_phone_has_none(peer: User) -> None:
    assert staff_phone(peer.pk) is None


def test_setting_it_again_replaces_it_under_the_same_key(peer: User) -> None:
    set_staff_phone(user=peer, phone=fictional_phone(), changed_by=peer)
    key = StaffContact.objects.get(user=peer).data_key_id
    second = fictional_phone()
    set_staff_phone(user=peer, phone=second, changed_by=peer)
    contact = StaffContact.objects.get(user=peer)
    assert (contact.data_key_id, staff_phone(peer.pk)) == (key, second)


def test_the_audit_entry_holds_no_number(peer: User) -> None:
    phone = fictional_phone()
    set_staff_phone(user=peer, phone=phone, changed_by=peer)
    entry = AuditEntry.objects.get(action="staff_contact.phone_set")
    assert entry.details == {}
    assert phone[-7:] not in str(entry.__dict__)


def test_a_ciphertext_moved_to_another_user_does_not_decrypt(peer: User, supervisor: User) -> None:
    from encryption.services import DecryptionError

    set_staff_phone(user=peer, phone=fictional_phone(), changed_by=peer)
    set_staff_phone(user=supervisor, phone=fictional_phone(), changed_by=supervisor)
    StaffContact.objects.filter(user=supervisor).update(phone_ciphertext=_raw_ciphertext(peer))
    with pytest.raises(DecryptionError):
        staff_phone(supervisor.pk)


@pytest.mark.parametrize("bad", ["", "12", "not a number", "+999999999999999", "+1780555"])
def test_an_invalid_number_is_refused_without_echoing_it(peer: User, bad: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        set_staff_phone(user=peer, phone=bad, changed_by=peer)
    assert excinfo.value.code == "invalid_phone"
    assert not bad or bad not in excinfo.value.message
    assert not StaffContact.objects.exists()
    assert not AuditEntry.objects.filter(action="staff_contact.phone_set").exists()


def test_the_api_answers_with_the_masked_number_only(peer: User) -> None:
    phone = fictional_phone()
    response = signed_in_client(peer).put(
        "/api/v1/me/contact/", {"phone": phone}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"phone": phone[:3] + "*" * (len(phone) - 5) + phone[-2:]}
    assert phone[3:-2].encode() not in response.content
    assert staff_phone(peer.pk) == phone


def test_the_api_refuses_a_bad_number_with_its_code(peer: User) -> None:
    response = signed_in_client(peer).put(
        "/api/v1/me/contact/", {"phone": "call me maybe"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    assert b"call me" not in response.content
    assert not StaffContact.objects.exists()


def test_the_api_needs_a_phone(peer: User) -> None:
    response = signed_in_client(peer).put(
        "/api/v1/me/contact/", {}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not StaffContact.objects.exists()


def test_a_service_user_cannot_set_a_staff_phone(db: None) -> None:
    from tests.support.factories import enrol, make_programme

    person = enrol(make_programme(), peer_support=None).participant.user
    response = signed_in_client(person).put(
        "/api/v1/me/contact/", {"phone": fictional_phone()}, content_type="application/json"
    )
    assert response.status_code == 403
    assert not StaffContact.objects.exists()
