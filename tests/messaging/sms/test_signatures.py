"""Twilio webhook signatures (DESIGN.md §4), through the real endpoints.

Twilio signs the URL it called (PEERLINK_PUBLIC_URL + path + query string) and the POSTed
fields with the account's auth token. Without a valid X-Twilio-Signature a webhook gets 403
{"code": "invalid_signature"} and nothing is stored: no InboundSms, no message, no intake
entry, no outbox row, no consent change, no delivery status change.
"""

from __future__ import annotations

import urllib.parse

import pytest
from django.test import Client

from messaging.models import (
    Conversation,
    DeliveryStatus,
    InboundSms,
    Message,
    SmsIntake,
    SmsOutbox,
)
from messaging.services import post_message
from messaging.sms import simulate
from messaging.sms.signatures import public_url, sign, status_callback_url
from people.selectors import participant_profile, sms_allowed
from programmes.models import Enrolment
from tests.support.factories import World, fictional_phone
from tests.support.fake_twilio import status_callback_params
from tests.support.sms import inbound, post_signed, status_callback, status_url

INBOUND_PATH = "/sms/twilio/inbound/"
STATUS_PATH = "/sms/twilio/status/"
PUBLIC_INBOUND = "https://peerlink.test/sms/twilio/inbound/"  # the test profile's public URL
FORBIDDEN = {"code": "invalid_signature", "message": "The request is not signed by Twilio."}


def stored() -> dict[str, int]:
    """Everything an inbound webhook could write."""
    return {
        "inbound": InboundSms.objects.count(),
        "messages": Message.objects.count(),
        "intake": SmsIntake.objects.count(),
        "outbox": SmsOutbox.objects.count(),
    }


@pytest.fixture
def texter(world: World) -> tuple[Enrolment, str]:
    """An enrolled person with a conversation and SMS consent, and their (fictional) number."""
    return world.own, participant_profile(world.own.participant).phone


def inbound_params(sender: str, body: str = "hello") -> dict[str, str]:
    return simulate.inbound_params(sender=sender, body=body)


# --- URLs ---------------------------------------------------------------------------------


def test_status_callback_url_is_the_public_url_with_the_outbox_id() -> None:
    assert status_callback_url(42) == "https://peerlink.test/sms/twilio/status/?outbox=42"


def test_status_callback_url_ignores_a_trailing_slash_on_the_public_url(settings) -> None:
    settings.PEERLINK_PUBLIC_URL = "https://peerlink.example.org/"
    assert status_callback_url(7) == "https://peerlink.example.org/sms/twilio/status/?outbox=7"


def test_status_callback_url_keeps_a_path_in_the_public_url(settings) -> None:
    settings.PEERLINK_PUBLIC_URL = "https://example.org/peerlink"
    assert status_callback_url(7) == "https://example.org/peerlink/sms/twilio/status/?outbox=7"


def test_public_url_without_a_query_has_no_question_mark() -> None:
    assert public_url(INBOUND_PATH) == PUBLIC_INBOUND


def test_the_inbound_url_twilio_calls_is_the_public_inbound_url() -> None:
    assert simulate.inbound_url() == PUBLIC_INBOUND


# --- Inbound: what passes -----------------------------------------------------------------


def test_a_correctly_signed_inbound_text_is_accepted_and_stored(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    before = stored()
    response = inbound(client, sender=phone, body="hello")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    after = stored()
    # One InboundSms row and the person's message in their conversation.
    assert after["inbound"] == before["inbound"] + 1
    assert after["messages"] == before["messages"] + 1


def test_the_signature_is_checked_against_the_public_url_not_the_host_header(
    client: Client, settings, texter: tuple[Enrolment, str]
) -> None:
    # Behind the TLS proxy Django sees plain http and an internal host; Twilio signed
    # https://peerlink.test/... and that is what is checked.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "internal-host"]
    _, phone = texter
    response = post_signed(
        client, PUBLIC_INBOUND, inbound_params(phone), HTTP_HOST="internal-host:8000"
    )
    assert response.status_code == 200
    assert InboundSms.objects.count() == 1


def test_a_signature_for_the_url_django_sees_is_refused(
    client: Client, settings, texter: tuple[Enrolment, str]
) -> None:
    # Signing what the request looks like from inside (http://internal-host:8000/...) is not
    # what Twilio signs, so it proves nothing.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "internal-host"]
    _, phone = texter
    params = inbound_params(phone)
    inside = "http://internal-host:8000" + INBOUND_PATH
    response = post_signed(
        client,
        PUBLIC_INBOUND,
        params,
        signature=sign(inside, params),
        HTTP_HOST="internal-host:8000",
    )
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_a_signature_with_the_default_port_in_the_url_passes(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    # Twilio sometimes signs https://host:443/...; both spellings of the URL are accepted.
    _, phone = texter
    params = inbound_params(phone)
    signature = sign("https://peerlink.test:443" + INBOUND_PATH, params)
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 200


# --- Inbound: what is refused -------------------------------------------------------------


def test_an_inbound_text_without_a_signature_is_refused_and_nothing_is_stored(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    before = stored()
    response = post_signed(client, PUBLIC_INBOUND, inbound_params(phone), signature="")
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert stored() == before


def test_a_body_changed_after_signing_is_refused_and_nothing_is_stored(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    # A captured, genuinely signed webhook replayed with another text.
    _, phone = texter
    params = inbound_params(phone, body="see you thursday")
    changed = {**params, "Body": "something else entirely"}
    before = stored()
    response = post_signed(
        client, PUBLIC_INBOUND, params, body=urllib.parse.urlencode(changed).encode()
    )
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    assert stored() == before


def test_a_sender_changed_after_signing_is_refused(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(fictional_phone())
    changed = {**params, "From": phone}
    response = post_signed(
        client, PUBLIC_INBOUND, params, body=urllib.parse.urlencode(changed).encode()
    )
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_a_field_added_after_signing_is_refused(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    changed = {**params, "NumMedia": "1", "MediaUrl0": "https://evil.example/x.jpg"}
    response = post_signed(
        client, PUBLIC_INBOUND, params, body=urllib.parse.urlencode(changed).encode()
    )
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_a_request_signed_with_the_wrong_token_is_refused(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    signature = sign(PUBLIC_INBOUND, params, token="not-our-auth-token")
    before = stored()
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert stored() == before


def test_a_request_signed_for_another_public_url_is_refused(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    signature = sign("https://other-service.example" + INBOUND_PATH, params)
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_a_request_signed_for_plain_http_of_our_host_is_refused(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    signature = sign("http://peerlink.test" + INBOUND_PATH, params)
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403


def test_changing_the_public_url_invalidates_signatures_for_the_old_one(
    client: Client, settings, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    signature = sign(PUBLIC_INBOUND, params)  # for https://peerlink.test
    settings.PEERLINK_PUBLIC_URL = "https://peerlink.example.org"
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_a_signature_for_the_status_endpoint_is_refused_on_the_inbound_endpoint(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    # The path is signed too: a signature can't be moved from one webhook to the other.
    _, phone = texter
    params = inbound_params(phone)
    signature = sign(status_url(), params)
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403


@pytest.mark.parametrize("signature", ["x", "not-a-signature", "A" * 28, "=" * 40])
def test_a_malformed_signature_is_refused(
    client: Client, texter: tuple[Enrolment, str], signature: str
) -> None:
    _, phone = texter
    response = post_signed(client, PUBLIC_INBOUND, inbound_params(phone), signature=signature)
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_an_unknown_signature_algorithm_is_refused_not_an_error(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    # A valid SHA-1 signature, but the settings header names an algorithm nobody supports.
    _, phone = texter
    response = post_signed(
        client,
        PUBLIC_INBOUND,
        inbound_params(phone),
        HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS="key=k1,algorithm=HMAC_MD5",
    )
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_a_forged_stop_does_not_opt_the_person_out(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    enrolment, phone = texter
    assert sms_allowed(enrolment.participant)
    response = post_signed(client, PUBLIC_INBOUND, inbound_params(phone, "STOP"), signature="")
    assert response.status_code == 403
    enrolment.participant.refresh_from_db()
    assert sms_allowed(enrolment.participant)


def test_the_signature_is_checked_before_the_fields(client: Client, db: None) -> None:
    # An unsigned request with no fields at all: 403, not the 400 a signed one would get.
    response = client.post(INBOUND_PATH, data="", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_a_signed_request_without_fields_is_a_400_not_a_403(client: Client, db: None) -> None:
    response = post_signed(client, PUBLIC_INBOUND, {})
    assert response.status_code == 400
    assert response.json()["code"] == "missing_field"
    assert InboundSms.objects.count() == 0


# --- A missing auth token refuses everything ----------------------------------------------


def test_without_an_auth_token_a_request_signed_with_an_empty_token_is_refused(
    client: Client, settings, texter: tuple[Enrolment, str]
) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    _, phone = texter
    params = inbound_params(phone)
    # The HMAC an attacker can compute when the key is empty.
    signature = simulate.signed_request(PUBLIC_INBOUND, params, token="").signature
    before = stored()
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert stored() == before


def test_without_an_auth_token_a_request_signed_with_the_old_token_is_refused(
    client: Client, settings, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    signature = sign(PUBLIC_INBOUND, params)  # the test profile's token, before it goes
    settings.TWILIO_AUTH_TOKEN = ""
    response = post_signed(client, PUBLIC_INBOUND, params, signature=signature)
    assert response.status_code == 403
    assert InboundSms.objects.count() == 0


def test_without_an_auth_token_status_callbacks_are_refused(
    client: Client, settings, db: None
) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    url = status_url("outbox=1")
    signature = sign(url, params, token="")
    response = post_signed(client, url, params, signature=signature)
    assert response.status_code == 403


# --- Status callbacks: the query string is signed -----------------------------------------


def _status_params(sid: str = "SM" + "b" * 32, status: str = "delivered") -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "SmsStatus": status}


def test_a_status_callback_signed_with_its_query_string_is_accepted(
    client: Client, db: None
) -> None:
    response = post_signed(client, status_url("outbox=5"), _status_params())
    assert response.status_code == 200


def test_a_status_callback_signed_without_its_query_string_is_refused(
    client: Client, db: None
) -> None:
    params = _status_params()
    without_query = sign(status_url(), params)
    response = post_signed(client, status_url("outbox=5"), params, signature=without_query)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_a_status_callback_with_a_changed_outbox_id_is_refused(client: Client, db: None) -> None:
    # Signed for ?outbox=5, sent to ?outbox=6: the outbox hint can't be redirected.
    params = _status_params()
    signature = sign(status_url("outbox=5"), params)
    response = post_signed(client, status_url("outbox=6"), params, signature=signature)
    assert response.status_code == 403


def test_a_status_callback_without_a_signature_is_refused(client: Client, db: None) -> None:
    response = post_signed(client, status_url("outbox=5"), _status_params(), signature="")
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


@pytest.fixture
def sent_sms(world: World, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """A peer supporter's message to a person who reads by SMS, sent through the fake Twilio:
    its outbox row and what the fake received (with the status callback URL)."""
    from tests.support.fake_twilio import FAKE_TWILIO

    conversation = Conversation.objects.get(enrolment=world.own)
    with django_capture_on_commit_callbacks(execute=True):
        posted = post_message(
            conversation_id=conversation.pk,
            sender=world.peer,
            sender_role="peer_supporter",
            channel="web",
            body="see you tomorrow",
            client_id="sig-test",
        )
    (sms,) = FAKE_TWILIO.sent
    return SmsOutbox.objects.get(message=posted.message), sms


def test_the_status_callback_of_a_send_names_its_outbox_row(sent_sms) -> None:  # type: ignore[no-untyped-def]
    outbox, sms = sent_sms
    assert sms.status_callback == f"https://peerlink.test/sms/twilio/status/?outbox={outbox.pk}"


def test_a_signed_status_callback_moves_the_delivery_status(client: Client, sent_sms) -> None:  # type: ignore[no-untyped-def]
    outbox, sms = sent_sms
    response = status_callback(client, sms, "delivered")
    assert response.status_code == 200
    outbox.refresh_from_db()
    assert outbox.delivery_status == DeliveryStatus.DELIVERED


def test_a_forged_status_callback_changes_nothing(client: Client, sent_sms) -> None:  # type: ignore[no-untyped-def]
    outbox, sms = sent_sms
    before = outbox.delivery_status
    params = status_callback_params(sms, "failed", error_code=21610)
    forged = sign(sms.status_callback, params, token="not-our-auth-token")
    response = post_signed(client, sms.status_callback, params, signature=forged)
    assert response.status_code == 403
    outbox.refresh_from_db()
    assert outbox.delivery_status == before
    assert outbox.error_code is None
    assert sms_allowed(outbox.participant)


# --- Methods ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [INBOUND_PATH, STATUS_PATH])
def test_get_on_a_webhook_is_405_and_stores_nothing(client: Client, db: None, path: str) -> None:
    before = stored()
    response = client.get(path, {"MessageSid": "SM" + "c" * 32, "Body": "hello"})
    assert response.status_code == 405
    assert stored() == before


def test_a_signed_get_on_the_inbound_webhook_is_still_405(
    client: Client, texter: tuple[Enrolment, str]
) -> None:
    _, phone = texter
    params = inbound_params(phone)
    query = urllib.parse.urlencode(params)
    signature = sign(public_url(INBOUND_PATH, query), {})
    response = client.get(f"{INBOUND_PATH}?{query}", HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 405
    assert InboundSms.objects.count() == 0
