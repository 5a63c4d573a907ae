"""The suite's watch on its own logs and errors (DESIGN.md §5: nothing personal in logs or
exceptions). While every test runs, every log record (its message and any traceback) and
every DomainError's message is checked for a phone number and for any text the test had
encrypted (message bodies, names, numbers, notes: everything personal goes through the
encryption service). A hit fails that test, naming the logger and the kind of value, never
the value.

Instrumentation, not a mock: the encryption service still encrypts; the guard only reads
what it is given. Text shorter than MIN_SENSITIVE characters is not tracked: "Yes" or "1" in
a log line is not a leak of anyone's message.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MIN_SENSITIVE = 8
# Numbers as people and services write them: E.164, or national with spaces, dots, dashes
# or brackets. The suite's numbers are all in the 555-01XX fiction range.
PHONE = re.compile(r"\+?1?[\s(.-]*\d{3}[\s).-]*555[\s.-]*01\d\d")
_FORMATTER = logging.Formatter()


class PrivacyGuard(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self._lock = threading.Lock()
        self.sensitive: set[str] = set()
        self.generated: set[str] = set()
        self.findings: list[str] = []

    def start_test(self) -> None:
        with self._lock:
            self.sensitive.clear()
            self.generated.clear()
            self.findings.clear()
        # Anything that configures logging again (Celery's worker set-up, dictConfig) resets
        # the root logger's handlers: each test puts the guard back.
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)

    def track(self, plaintext: str) -> None:
        if len(plaintext) >= MIN_SENSITIVE:
            with self._lock:
                if plaintext.strip() not in self.generated:
                    self.sensitive.add(plaintext)

    def not_personal(self, text: str) -> str:
        """Text a fuzzer made up is nobody's: it is not tracked when it is encrypted.
        (Hypothesis draws strings from the project's own source, error messages included,
        which would otherwise be "found" in the errors that quote them.)"""
        with self._lock:
            self.generated.add(text.strip())
        return text

    def check(self, where: str, text: str) -> None:
        kinds = []
        if PHONE.search(text):
            kinds.append("a phone number")
        with self._lock:
            if any(value in text for value in self.sensitive):
                kinds.append("encrypted personal text")
            for kind in kinds:
                self.findings.append(f"{where} holds {kind}")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logging module's own report
            return
        if record.exc_info:
            text += "\n" + _FORMATTER.formatException(record.exc_info)
        self.check(f"a log record of {record.name}", text)


GUARD = PrivacyGuard()


def install() -> None:
    """Once per test process: watch the root logger, the encryption service's input, and
    the domain's errors."""
    from encryption import services as encryption
    from peerlink.errors import DomainError

    logging.getLogger().addHandler(GUARD)

    original_cipher_for = encryption._cipher_for

    class _Watched:
        def __init__(self, cipher: Any) -> None:
            self._cipher = cipher

        def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
            GUARD.track(data.decode("utf-8", errors="ignore"))
            sealed: bytes = self._cipher.encrypt(nonce, data, associated_data)
            return sealed

        def __getattr__(self, name: str) -> Any:
            return getattr(self._cipher, name)

    def watched_cipher_for(data_key: Any) -> Any:
        return _Watched(original_cipher_for(data_key))

    encryption._cipher_for = watched_cipher_for  # type: ignore[assignment]

    original_init = DomainError.__init__

    def watched_init(self: DomainError, code: str, message: str, **kwargs: Any) -> None:
        GUARD.check(f"a DomainError ({code})", message)
        original_init(self, code, message, **kwargs)

    DomainError.__init__ = watched_init  # type: ignore[method-assign]
