"""Twilio's webhooks (DESIGN.md §4): `POST /sms/twilio/inbound/` and `POST /sms/twilio/status/`.

Thin: check the signature (403 without a valid one, nothing stored), check the fields (400
with a code, nothing stored), then call the service. Plain Django views rather than DRF: the
signature is the authentication, and the inbound path is measured against a bare Django view
(bench/sms_inbound.py). Replies are sent through the outbox, never as TwiML, so that every
text we send is recorded, retried and tracked; the TwiML answer is always empty.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from twilio.twiml.messaging_response import MessagingResponse

from messaging.metrics import SMS_INBOUND, SMS_STATUS_CALLBACKS
from messaging.services import MAX_BODY_CHARS
from messaging.sms.delivery import record_delivery_report
from messaging.sms.inbound import InboundText, receive_sms
from messaging.sms.ratelimit import over_limit
from messaging.sms.signatures import has_valid_signature
from people.services import strict_e164

EMPTY_TWIML = str(MessagingResponse())
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
MAX_MEDIA = 10
ERROR_CODE_MAX = 10**6


class InvalidWebhook(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _forbidden() -> JsonResponse:
    return _error(403, "invalid_signature", "The request is not signed by Twilio.")


def _field(data: QueryDict, name: str) -> str:
    value = data.get(name)
    if value is None:
        raise InvalidWebhook("missing_field", f"{name} is required.")
    return value


def _message_sid(data: QueryDict) -> str:
    sid = _field(data, "MessageSid")
    if not MESSAGE_SID.fullmatch(sid):
        raise InvalidWebhook("invalid_field", "MessageSid is not a Twilio message id.")
    return sid


def _whole_number(raw: str) -> int | None:
    """ASCII digits only: `str.isdigit` also accepts "²" and "①", which `int` refuses."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def parse_inbound(data: QueryDict) -> InboundText:
    message_sid = _message_sid(data)
    sender = strict_e164(_field(data, "From").strip())
    if sender is None:
        raise InvalidWebhook("invalid_sender", "From must be a phone number in E.164 form.")
    body = _field(data, "Body")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidWebhook("body_too_long", f"Body holds at most {MAX_BODY_CHARS} characters.")
    media = _whole_number(data.get("NumMedia", "0") or "0")
    if media is None or media > MAX_MEDIA:
        raise InvalidWebhook("invalid_field", "NumMedia must be a whole number from 0 to 10.")
    return InboundText(
        message_sid=message_sid,
        sender=sender,
        recipient=strict_e164(data.get("To", "").strip()) or "",
        body=body,
        num_media=media,
        opt_out_type=data.get("OptOutType", "")[:16],
    )


@method_decorator(csrf_exempt, name="dispatch")
class TwilioInboundView(View):
    """A text to one of our numbers."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if not has_valid_signature(request):
            SMS_INBOUND.labels(outcome="forbidden").inc()
            return _forbidden()
        try:
            text = parse_inbound(request.POST)
        except InvalidWebhook as exc:
            SMS_INBOUND.labels(outcome="invalid").inc()
            return _error(400, exc.code, exc.message)
        # Keywords are never refused: a STOP must not be lost, and they change nothing twice.
        if text.keyword is None and over_limit(text.sender):
            SMS_INBOUND.labels(outcome="rate_limited").inc()
            return _error(429, "rate_limited", "Too many texts from this number; slow down.")
        result = receive_sms(text)
        SMS_INBOUND.labels(outcome=result.outcome).inc()
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _outbox_hint(request: HttpRequest) -> int | None:
    return _whole_number(request.GET.get("outbox", ""))


def _error_code(data: QueryDict) -> int | None:
    raw = data.get("ErrorCode", "") or ""
    if not raw:
        return None
    code = _whole_number(raw)
    if code is None or code >= ERROR_CODE_MAX:
        raise InvalidWebhook("invalid_field", "ErrorCode must be a Twilio error code.")
    return code


@method_decorator(csrf_exempt, name="dispatch")
class TwilioStatusView(View):
    """Twilio's report on a text we sent (queued, sent, delivered, undelivered, failed)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        if not has_valid_signature(request):
            SMS_STATUS_CALLBACKS.labels(result="forbidden").inc()
            return _forbidden()
        try:
            message_sid = _message_sid(request.POST)
            status = _field(request.POST, "MessageStatus").strip()
            error_code = _error_code(request.POST)
        except InvalidWebhook as exc:
            SMS_STATUS_CALLBACKS.labels(result="invalid").inc()
            return _error(400, exc.code, exc.message)
        result = record_delivery_report(
            message_sid=message_sid,
            status=status,
            error_code=error_code,
            outbox_hint=_outbox_hint(request),
        )
        SMS_STATUS_CALLBACKS.labels(result=result).inc()
        return HttpResponse(status=200)
