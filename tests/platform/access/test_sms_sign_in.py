"""Service users sign in with a single-use code sent by SMS.

The code is sent after the request's transaction commits, so requests run inside
`django_capture_on_commit_callbacks(execute=True)`; the fake Twilio's `FAKE_TWILIO.sent`
(under the real twilio library) then holds what would have reached the phone.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import types
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

import access.services
from access.models import LoginCode
from audit.models import AuditEntry
from people.models import ConsentKind, ConsentSource, Participant
from people.selectors import participant_profile
from people.services import withdraw_consent
from tests.support.factories import World, fictional_phone
from tests.support.fake_twilio import FAKE_TWILIO

SMS_CODE = "/api/v1/auth/sms-code/"
SMS_VERIFY = "/api/v1/auth/sms-code/verify/"
ME = "/api/v1/me/"


@pytest.fixture
def send_code(django_capture_on_commit_callbacks: Any) -> Any:
    """POST /auth/sms-code/ and run what waits for the commit (the SMS send)."""

    def send(phone: str, client: Client | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return (client or Client()).post(
                SMS_CODE, {"phone": phone}, content_type="application/json"
            )

    return send


def verify(phone: str, code: str, client: Client | None = None) -> Any:
    return (client or Client()).post(
        SMS_VERIFY, {"phone": phone, "code": code}, content_type="application/json"
    )


def phone_of(participant: Participant) -> str:
    return participant_profile(participant).phone


def code_in_last_sms() -> str:
    match = re.search(r"\b(\d{6})\b", FAKE_TWILIO.sent[-1].body)
    assert match, "no 6-digit code in the SMS"
    return match.group(1)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- requesting a code ---------------------------------------------------------------------


def test_known_number_gets_202_and_exactly_one_sms_to_it(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)

    response = send_code(phone)

    assert response.status_code == 202
    assert len(FAKE_TWILIO.sent) == 1
    assert FAKE_TWILIO.sent[0].to == phone


def test_code_sms_holds_a_six_digit_code(world: World, send_code: Any) -> None:
    send_code(phone_of(world.own.participant))

    assert re.search(r"\b\d{6}\b", FAKE_TWILIO.sent[0].body)


def test_number_typed_in_national_format_gets_the_sms_at_its_e164_form(
    world: World, send_code: Any
) -> None:
    e164 = phone_of(world.own.participant)  # +1AAA555XXXX
    national = f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"

    response = send_code(national)

    assert response.status_code == 202
    assert [sms.to for sms in FAKE_TWILIO.sent] == [e164]


def test_unknown_number_gets_202_and_no_sms_and_no_code(world: World, send_code: Any) -> None:
    response = send_code(fictional_phone())

    assert response.status_code == 202
    assert FAKE_TWILIO.sent == []
    assert not LoginCode.objects.exists()


def test_answer_for_an_unknown_number_equals_the_answer_for_a_known_one(
    world: World, send_code: Any
) -> None:
    known = send_code(phone_of(world.own.participant))
    unknown = send_code(fictional_phone())

    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)


def test_number_whose_sms_consent_was_withdrawn_gets_202_and_no_sms(
    world: World, send_code: Any
) -> None:
    participant = world.own.participant
    withdraw_consent(participant=participant, kind=ConsentKind.SMS, source=ConsentSource.SMS)

    response = send_code(phone_of(participant))

    assert response.status_code == 202
    assert FAKE_TWILIO.sent == []
    assert not LoginCode.objects.exists()


@pytest.mark.parametrize("text", ["not a phone", "12", "+999 123", "++--"])
def test_unreadable_phone_is_400_and_writes_nothing(
    world: World, send_code: Any, text: str
) -> None:
    audit_before = AuditEntry.objects.count()

    response = send_code(text)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    assert text not in response.json()["message"]
    assert FAKE_TWILIO.sent == []
    assert not LoginCode.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_missing_phone_is_400_invalid(world: World, send_code: Any) -> None:
    response = Client().post(SMS_CODE, {}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "phone" in response.json()["fields"]


def test_login_code_row_stores_no_plaintext_code(world: World, send_code: Any) -> None:
    send_code(phone_of(world.own.participant))
    code = code_in_last_sms()

    row = LoginCode.objects.get()

    assert code not in row.code_hash
    assert len(row.code_hash) == 64


# --- verifying a code ----------------------------------------------------------------------


def test_right_code_answers_200_with_a_participant_me(world: World, send_code: Any) -> None:
    participant = world.own.participant
    send_code(phone_of(participant))

    response = verify(phone_of(participant), code_in_last_sms())

    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "participant"
    assert body["id"] == participant.user.id
    assert body["participant_id"] == str(participant.id)


def test_right_code_starts_a_session(world: World, send_code: Any) -> None:
    participant = world.own.participant
    send_code(phone_of(participant))
    client = Client()

    response = verify(phone_of(participant), code_in_last_sms(), client)

    assert response.cookies["sessionid"].value
    me = client.get(ME)
    assert me.status_code == 200
    assert me.json()["kind"] == "participant"
    assert me.json()["participant_id"] == str(participant.id)


def test_right_code_sign_in_is_audited(world: World, send_code: Any) -> None:
    participant = world.own.participant
    send_code(phone_of(participant))

    verify(phone_of(participant), code_in_last_sms())

    entry = AuditEntry.objects.get(action="auth.participant_login")
    assert entry.actor_id == participant.user.id


def test_code_works_with_the_number_typed_in_national_format(world: World, send_code: Any) -> None:
    e164 = phone_of(world.own.participant)
    send_code(e164)

    response = verify(f"{e164[2:5]} {e164[5:8]} {e164[8:]}", code_in_last_sms())

    assert response.status_code == 200


def test_code_is_single_use(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)
    code = code_in_last_sms()
    verify(phone, code)

    again = verify(phone, code)

    assert again.status_code == 400
    assert again.json()["code"] == "invalid_code"
    assert "sessionid" not in again.cookies


def test_wrong_code_is_400_invalid_code(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)

    response = verify(phone, other_code(code_in_last_sms()))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"
    assert Session.objects.count() == 0


def test_four_wrong_codes_still_leave_the_right_code_usable(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)
    code = code_in_last_sms()
    for _ in range(4):
        verify(phone, other_code(code))

    assert verify(phone, code).status_code == 200


def test_five_wrong_codes_burn_the_code(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)
    code = code_in_last_sms()
    answers = [verify(phone, other_code(code)).status_code for _ in range(5)]

    response = verify(phone, code)

    assert answers == [400] * 5
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"
    assert Session.objects.count() == 0


def test_expired_code_is_refused(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)
    code = code_in_last_sms()
    LoginCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = verify(phone, code)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"


def test_code_just_before_expiry_still_works(world: World, send_code: Any) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)
    LoginCode.objects.update(expires_at=timezone.now() + dt.timedelta(seconds=30))

    assert verify(phone, code_in_last_sms()).status_code == 200


def test_new_code_invalidates_the_previous_one(
    world: World, send_code: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two different codes for certain: the service draws them from `secrets.randbelow`.
    draws = iter([123456, 654321])
    monkeypatch.setattr(
        access.services,
        "secrets",
        types.SimpleNamespace(
            randbelow=lambda _n: next(draws), token_urlsafe=secrets.token_urlsafe
        ),
    )
    phone = phone_of(world.own.participant)
    send_code(phone)
    first = code_in_last_sms()
    send_code(phone)
    second = code_in_last_sms()

    stale = verify(phone, first)
    fresh = verify(phone, second)

    assert (first, second) == ("123456", "654321")
    assert stale.status_code == 400
    assert fresh.status_code == 200


def test_code_sent_to_one_person_does_not_sign_in_another(world: World, send_code: Any) -> None:
    send_code(phone_of(world.own.participant))
    code = code_in_last_sms()
    send_code(phone_of(world.others.participant))

    response = verify(phone_of(world.others.participant), code)

    # (a one-in-a-million chance that both people were sent the same six digits)
    assert response.status_code == 400 or code == code_in_last_sms()


def test_code_for_an_unknown_number_gets_the_same_answer_as_a_wrong_code(
    world: World, send_code: Any
) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)
    wrong = verify(phone, other_code(code_in_last_sms()))

    unknown = verify(fictional_phone(), "123456")

    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", "", "      "])
def test_malformed_code_is_refused_without_a_session(
    world: World, send_code: Any, code: str
) -> None:
    phone = phone_of(world.own.participant)
    send_code(phone)

    response = verify(phone, code)

    assert response.status_code == 400
    assert Session.objects.count() == 0


def test_unreadable_phone_at_verification_is_400_invalid_code(world: World) -> None:
    response = verify("not a phone", "123456")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_code"


def test_neither_number_nor_code_appears_in_log_lines(
    world: World, send_code: Any, caplog: pytest.LogCaptureFixture
) -> None:
    phone = phone_of(world.own.participant)
    caplog.set_level(logging.DEBUG)
    send_code(phone)
    code = code_in_last_sms()
    verify(phone, other_code(code))
    verify(phone, code)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert phone not in logged
    assert phone[2:] not in logged
    assert code not in logged
