"""SMS backends. `send_sms` is the only way the code reaches a phone.

- `TwilioSmsBackend` (production): the twilio library's `Client`, sending through the
  Messaging Service with a status callback. Its HTTP client is `TWILIO_HTTP_CLIENT` (tests
  and benchmarks plug in the fake Twilio of tests/support/fake_twilio.py there, so the real
  library builds every request).
- `ConsoleSmsBackend` (local profile): shows the text on the developer's terminal and never
  sends it.

Errors are sorted into temporary (timeouts, connection errors, 5xx, 429: worth another
attempt) and permanent (everything else, with Twilio's error code). Their messages carry
status and code only: Twilio's own messages can quote the phone number.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import Protocol

import requests
from django.conf import settings
from django.utils.module_loading import import_string
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

logger = logging.getLogger(__name__)

# Twilio error codes that mean "this number has opted out": the carrier-level STOP.
OPTED_OUT_ERROR_CODES = frozenset({21610})
# Errors of ours or of the moment, not of the text: wrong or rotated credentials (20003) and
# a full Messaging Service queue (21611). Retried, so that fixing the setting sends the texts.
TEMPORARY_ERROR_CODES = frozenset({20003, 21611})
# The longest body Twilio accepts in one message (it bills it as several segments).
MAX_BODY_CHARS = 1600


@dataclass(frozen=True)
class OutgoingSms:
    to: str
    body: str
    purpose: str
    reference: str  # an outbox or sign-in code row id: never personal data
    status_callback: str | None = None


@dataclass(frozen=True)
class SmsReceipt:
    provider_message_id: str
    status: str  # the provider's status when it accepted the message (queued, accepted, ...)


class SmsSendError(Exception):
    def __init__(
        self, *, http_status: int | None = None, code: int | None = None, ambiguous: bool = False
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.ambiguous = ambiguous
        super().__init__(f"{type(self).__name__}: status={http_status} code={code}")


class SmsTemporaryError(SmsSendError):
    """Worth another attempt: the provider was slow, unreachable, overloaded or rate-limiting.
    `ambiguous`: the provider may have accepted the text all the same (no answer, or a 5xx), so
    the next attempt waits long enough for its status callback to tell."""


class SmsPermanentError(SmsSendError):
    """Another attempt would fail the same way (invalid number, opted out, bad request)."""

    @property
    def opted_out(self) -> bool:
        return self.code in OPTED_OUT_ERROR_CODES


class SmsBackend(Protocol):
    def send(self, sms: OutgoingSms) -> SmsReceipt:
        """Hand the SMS to the provider; raise SmsTemporaryError or SmsPermanentError."""


class ConsoleSmsBackend:
    """Local development: nothing leaves the machine. The body is shown on the developer's own
    terminal (the demo needs the sign-in code), never in a log line."""

    def send(self, sms: OutgoingSms) -> SmsReceipt:
        masked = "*" * max(len(sms.to) - 2, 0) + sms.to[-2:]
        sys.stdout.write(f"\n[console SMS to {masked} ({sms.purpose})]\n{sms.body}\n\n")
        sys.stdout.flush()
        return SmsReceipt(
            provider_message_id=f"console-{sms.purpose}-{sms.reference}", status="sent"
        )


_client_lock = threading.Lock()
_clients: dict[tuple[str, str, str], Client] = {}


def _http_client() -> HttpClient:
    path = settings.TWILIO_HTTP_CLIENT
    if path:
        client: HttpClient = import_string(path)()
        return client
    return TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS)


def twilio_client() -> Client:
    """One Client (and so one pooled HTTP session) per process and credentials."""
    key = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_HTTP_CLIENT)
    with _client_lock:
        client = _clients.get(key)
        if client is None:
            client = Client(key[0], key[1], http_client=_http_client())
            _clients[key] = client
        return client


class TwilioSmsBackend:
    """Production: Twilio's Messages API through the Messaging Service."""

    def send(self, sms: OutgoingSms) -> SmsReceipt:
        try:
            created = twilio_client().messages.create(
                to=sms.to,
                body=sms.body,
                messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
                status_callback=sms.status_callback or values.unset,
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            # The legacy error body and RFC 9457 problem details: both carry status and code.
            raise _sorted_error(exc.status, exc.code) from None
        except requests.ConnectTimeout:
            raise SmsTemporaryError() from None  # never reached Twilio: nothing was sent
        except (requests.RequestException, TwilioException):
            # No answer, or one the library could not read: it may have been sent or not (a
            # retry is recognised by its status callback, see messaging/sms/delivery.py).
            raise SmsTemporaryError(ambiguous=True) from None
        if not created.sid:
            raise SmsTemporaryError(code=None)
        return SmsReceipt(provider_message_id=str(created.sid), status=str(created.status or ""))


def _number(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _sorted_error(status: object, code: object) -> SmsSendError:
    http_status = _number(status) or 0
    error_code = _number(code)
    if http_status == 429 or error_code in TEMPORARY_ERROR_CODES or http_status == 401:
        if http_status == 401 or error_code in TEMPORARY_ERROR_CODES:
            logger.error("Twilio refused the account settings: status=%s code=%s", status, code)
        return SmsTemporaryError(http_status=http_status, code=error_code)
    if http_status >= 500 or http_status == 0:
        return SmsTemporaryError(http_status=http_status or None, code=error_code, ambiguous=True)
    return SmsPermanentError(http_status=http_status, code=error_code)


def get_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.SMS_BACKEND)()
    return backend


def send_sms(sms: OutgoingSms) -> SmsReceipt:
    receipt = get_backend().send(sms)
    logger.info("sms handed to provider purpose=%s reference=%s", sms.purpose, sms.reference)
    return receipt
