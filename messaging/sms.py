"""SMS backends. `send_sms` is the only way the code reaches a phone.

The console backend (local profile) stores and prints a notice but never sends; the memory
backend (tests) keeps what was sent for assertions; the Twilio backend arrives with the SMS
channel. Bodies and numbers are never logged.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingSms:
    to: str
    body: str
    purpose: str
    reference: str


class SmsBackend(Protocol):
    def send(self, sms: OutgoingSms) -> str:
        """Send and return the provider's message id."""


class ConsoleSmsBackend:
    """Local development: nothing leaves the machine. The body is shown on the developer's own
    terminal (the demo needs the sign-in code), never in a log line."""

    def send(self, sms: OutgoingSms) -> str:
        masked = "*" * max(len(sms.to) - 2, 0) + sms.to[-2:]
        sys.stdout.write(f"\n[console SMS to {masked} ({sms.purpose})]\n{sms.body}\n\n")
        sys.stdout.flush()
        return f"console-{sms.reference}"


class MemorySmsBackend:
    """Tests: keeps every SMS in memory for assertions."""

    outbox: list[OutgoingSms] = []
    _lock = threading.Lock()

    def send(self, sms: OutgoingSms) -> str:
        with self._lock:
            MemorySmsBackend.outbox.append(sms)
            return f"memory-{len(MemorySmsBackend.outbox)}"


def get_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.SMS_BACKEND)()
    return backend


def send_sms(*, to: str, body: str, purpose: str, reference: str) -> str:
    provider_id = get_backend().send(
        OutgoingSms(to=to, body=body, purpose=purpose, reference=reference)
    )
    logger.info("sms sent purpose=%s reference=%s", purpose, reference)
    return provider_id
