"""Webhooks as Twilio sends them, correctly signed: for `manage.py simulate_sms`, the tests and
the benchmark. The fields and their spelling follow Twilio's inbound message webhook."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from messaging.sms.segments import count_segments
from messaging.sms.signatures import public_url, sign

SERVICE_NUMBER = "+17805550000"  # fictional (555-0XXX)


def new_message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def inbound_params(
    *, sender: str, body: str, to: str = SERVICE_NUMBER, message_sid: str | None = None
) -> dict[str, str]:
    sid = message_sid or new_message_sid()
    return {
        "ToCountry": "CA",
        "ToState": "AB",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "AB",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "CA",
        "To": to,
        "MessagingServiceSid": settings.TWILIO_MESSAGING_SERVICE_SID or "MG" + "0" * 32,
        "ToZip": "",
        "NumSegments": str(count_segments(body).segments),
        "MessageSid": sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def inbound_url() -> str:
    return public_url(reverse("sms-twilio-inbound"))


@dataclass(frozen=True)
class SignedRequest:
    url: str  # the URL that was signed (PEERLINK_PUBLIC_URL + path)
    body: bytes  # application/x-www-form-urlencoded
    signature: str


def signed_request(url: str, params: dict[str, str], *, token: str | None = None) -> SignedRequest:
    return SignedRequest(
        url=url,
        body=urllib.parse.urlencode(params).encode(),
        signature=sign(url, params, token=token),
    )


def post(request: SignedRequest, *, to_base: str | None = None, timeout: float = 10) -> int:
    """POST it (to `to_base` instead of the signed URL's own host, when given) and return the
    HTTP status."""
    target = request.url
    if to_base:
        parts = urllib.parse.urlsplit(request.url)
        target = to_base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    http_request = urllib.request.Request(  # noqa: S310 (our own server, http or https)
        target,
        data=request.body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": request.signature,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
