"""Twilio's webhooks in tests: signed exactly as Twilio signs them (the real library's
RequestValidator), posted form-encoded through Django's test client."""

from __future__ import annotations

import urllib.parse
from typing import Any

from django.http import HttpResponse
from django.test import Client

from messaging.sms import simulate
from messaging.sms.signatures import public_url
from people.selectors import participant_profile
from programmes.models import Enrolment
from tests.support.fake_twilio import SentSms, status_callback_params


def post_signed(
    client: Client,
    url: str,
    params: dict[str, str],
    *,
    signature: str | None = None,
    body: bytes | None = None,
    **headers: Any,
) -> HttpResponse:
    """POST `params` to the path of `url` (a PEERLINK_PUBLIC_URL address) with the signature
    Twilio would send for them, or the given one ("" sends none)."""
    signed = simulate.signed_request(url, params)
    parts = urllib.parse.urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    extra = dict(headers)
    chosen = signed.signature if signature is None else signature
    if chosen:
        extra["HTTP_X_TWILIO_SIGNATURE"] = chosen
    response: HttpResponse = client.post(
        path,
        data=signed.body if body is None else body,
        content_type="application/x-www-form-urlencoded",
        **extra,
    )
    return response


def inbound(
    client: Client,
    *,
    sender: str,
    body: str,
    to: str = simulate.SERVICE_NUMBER,
    message_sid: str | None = None,
    **overrides: str,
) -> HttpResponse:
    """An inbound text from `sender`, signed. `overrides` replace or (with "") drop fields."""
    params = simulate.inbound_params(sender=sender, body=body, to=to, message_sid=message_sid)
    for name, value in overrides.items():
        if value == "":
            params.pop(name, None)
        else:
            params[name] = value
    return post_signed(client, simulate.inbound_url(), params)


def status_callback(
    client: Client, sms: SentSms, status: str, *, error_code: int | None = None
) -> HttpResponse:
    """Twilio's signed report on `sms`, to the callback URL the send named."""
    assert sms.status_callback, "the send named no status callback"
    return post_signed(
        client, sms.status_callback, status_callback_params(sms, status, error_code=error_code)
    )


def status_url(query: str = "") -> str:
    return public_url("/sms/twilio/status/", query)


def phone_of(enrolment: Enrolment) -> str:
    """The (fictional) number of the enrolment's person."""
    return participant_profile(enrolment.participant).phone
