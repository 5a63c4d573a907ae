"""Twilio webhook signatures, checked with the twilio library's `RequestValidator`.

Twilio signs the URL it called plus the POSTed fields. Behind a TLS proxy the URL Django sees
(http, an internal host) is not that URL, so the signed URL is rebuilt from
`PEERLINK_PUBLIC_URL` and the request's path and query string (DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

_META_SIGNATURE = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
_META_SIGNATURE_SETTINGS = "HTTP_" + SIGNATURE_SETTINGS_HEADER.upper().replace("-", "_")


def public_url(path: str, query: str = "") -> str:
    """The URL Twilio uses for one of our paths: PEERLINK_PUBLIC_URL + path (+ ?query)."""
    base = settings.PEERLINK_PUBLIC_URL.rstrip("/")
    return f"{base}{path}" + (f"?{query}" if query else "")


def status_callback_url(outbox_id: int) -> str:
    """Where Twilio reports an outbox row's delivery. The row id rides along so that a report
    for a send whose MessageSid we never stored (the worker died after Twilio accepted it)
    still finds its row, and the send is not repeated."""
    return public_url(reverse("sms-twilio-status"), f"outbox={outbox_id}")


def signed_url_of(request: HttpRequest) -> str:
    # `path` (with any script prefix), as `reverse` builds the callback URLs we hand out.
    return public_url(request.path, request.META.get("QUERY_STRING", ""))


def has_valid_signature(request: HttpRequest) -> bool:
    """True only for a request carrying a valid X-Twilio-Signature for our auth token. A
    missing token (misconfiguration) refuses everything rather than accepting anything."""
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.META.get(_META_SIGNATURE)
    if not token or not isinstance(signature, str) or not signature:
        return False
    algorithm = get_signature_algorithm(request.META.get(_META_SIGNATURE_SETTINGS, ""))
    validator = RequestValidator(token)
    return bool(validator.validate(signed_url_of(request), request.POST, signature, algorithm))


def sign(url: str, params: Mapping[str, str], *, token: str | None = None) -> str:
    """The X-Twilio-Signature Twilio would send for a POST of `params` to `url`: for
    `simulate_sms`, the fake Twilio of the tests, and the benchmark."""
    return str(RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(url, params))
