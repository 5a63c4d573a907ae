"""A fake Twilio at the HTTP level: the one thing outside the machine we imitate.

The real twilio library builds every request (URL, auth, form fields); only the transport is
replaced, so what the fake checks is what Twilio would receive:

- `FakeTwilioHttpClient`: an `http_client` for `twilio.rest.Client` (settings
  `TWILIO_HTTP_CLIENT`) that answers in this process. The test profile uses it.
- `FakeTwilioServer`: the same API over real HTTP on 127.0.0.1, for servers and workers in
  other processes, which use `ForwardingTwilioHttpClient` (the library's own requests-based
  client, pointed at `PEERLINK_FAKE_TWILIO_URL`). It also sends the signed status callbacks
  Twilio would send (queued, sent, delivered) to each message's callback URL.

`FAKE_TWILIO` is this process's API state: what was sent, and scripted failures (HTTP 500 or
429, timeouts, error 21610) for the next requests.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import logging
import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from messaging.sms import simulate
from messaging.sms.segments import count_segments
from people.services import strict_e164

TWILIO_API = "https://api.twilio.com"
MESSAGES_PATH = "/2010-04-01/Accounts/{account}/Messages.json"
OUR_NUMBER = simulate.SERVICE_NUMBER
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentSms:
    sid: str
    to: str
    body: str
    messaging_service_sid: str
    status_callback: str | None


@dataclass(frozen=True)
class Failure:
    status: int | None = None  # an HTTP error status, with Twilio's error `code`
    code: int | None = None
    timeout: bool = False  # the request never gets an answer (requests.ReadTimeout)
    sends: bool = False  # ...although Twilio did accept the message (an ambiguous failure)


@dataclass
class FakeTwilioApi:
    """Twilio's Messages API, as much as peerlink uses: create a message."""

    account_sid: str = ""
    auth_token: str = ""
    sent: list[SentSms] = field(default_factory=list)
    requests: int = 0
    _failures: collections.deque[Failure] = field(default_factory=collections.deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, *, account_sid: str, auth_token: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self._failures.clear()
            self.requests = 0

    def fail_next(self, failure: Failure, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([failure] * times)

    def bodies_to(self, number: str) -> list[str]:
        return [sms.body for sms in self.sent if sms.to == number]

    def handle(self, method: str, url: str, data: dict[str, Any], auth: Any) -> tuple[int, str]:
        """(status, JSON text) for one request, or requests.ReadTimeout for a timeout."""
        with self._lock:
            self.requests += 1
            failure = self._failures.popleft() if self._failures else None
        account = self.account_sid
        path = urllib.parse.urlsplit(url).path
        if method.upper() != "POST" or path != MESSAGES_PATH.format(account=account):
            return _error(404, 20404, "The requested resource was not found")
        if tuple(auth or ()) != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authentication Error")
        if failure is not None and not failure.sends:
            return _fail(failure)
        to = str(data.get("To", ""))
        body = str(data.get("Body", ""))
        service = str(data.get("MessagingServiceSid", ""))
        if strict_e164(to) is None:
            return _error(400, 21211, "The 'To' number is not a valid phone number.")
        if not body or len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 limit.")
        if not service.startswith("MG"):
            return _error(400, 21701, "The Messaging Service Sid is invalid.")
        sms = SentSms(
            sid="SM" + uuid.uuid4().hex,
            to=to,
            body=body,
            messaging_service_sid=service,
            status_callback=str(data["StatusCallback"]) if data.get("StatusCallback") else None,
        )
        with self._lock:
            self.sent.append(sms)
        if failure is not None:
            return _fail(failure)
        return 201, json.dumps(_message_resource(sms, account))


FAKE_TWILIO = FakeTwilioApi()


def _error(status: int, code: int, message: str) -> tuple[int, str]:
    return status, json.dumps({"code": code, "message": message, "more_info": "", "status": status})


def _fail(failure: Failure) -> tuple[int, str]:
    if failure.timeout:
        raise requests.ReadTimeout("fake Twilio: no answer")
    assert failure.status is not None
    return _error(failure.status, failure.code or 20500, "Scripted failure")


def _message_resource(sms: SentSms, account: str) -> dict[str, Any]:
    return {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": sms.body,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": None,
        "messaging_service_sid": sms.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(count_segments(sms.body).segments),
        "sid": sms.sid,
        "status": "accepted",
        "to": sms.to,
        "uri": f"/2010-04-01/Accounts/{account}/Messages/{sms.sid}.json",
    }


def status_callback_params(
    sms: SentSms, status: str, *, error_code: int | None = None, account_sid: str = ""
) -> dict[str, str]:
    """The fields of Twilio's status callback for `sms`."""
    params = {
        "AccountSid": account_sid or FAKE_TWILIO.account_sid,
        "ApiVersion": "2010-04-01",
        "From": OUR_NUMBER,
        "MessageSid": sms.sid,
        "MessageStatus": status,
        "MessagingServiceSid": sms.messaging_service_sid,
        "SmsSid": sms.sid,
        "SmsStatus": status,
        "To": sms.to,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


class FakeTwilioHttpClient(HttpClient):
    """In this process: the twilio library's requests are answered by `FAKE_TWILIO`."""

    def __init__(self) -> None:
        super().__init__(logger, is_async=False, timeout=None)
        if not FAKE_TWILIO.account_sid:
            from django.conf import settings

            FAKE_TWILIO.configure(
                account_sid=settings.TWILIO_ACCOUNT_SID, auth_token=settings.TWILIO_AUTH_TOKEN
            )

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        status, text = FAKE_TWILIO.handle(method, uri, dict(data or {}), auth)
        return Response(status, text)


class ForwardingTwilioHttpClient(TwilioHttpClient):
    """In a server or worker process: the library's own HTTP client, with Twilio's address
    replaced by the fake Twilio server's (`PEERLINK_FAKE_TWILIO_URL`)."""

    def __init__(self) -> None:
        super().__init__(timeout=10)
        self.base = os.environ["PEERLINK_FAKE_TWILIO_URL"].rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self.base + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


class FakeTwilioServer:
    """`FAKE_TWILIO` over HTTP on 127.0.0.1, sending Twilio's status callbacks for each
    accepted message (unless `callbacks` is empty)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        callbacks: tuple[str, ...] = ("queued", "sent", "delivered"),
        delay: float = 0.0,
    ) -> None:
        self.api = FakeTwilioApi(account_sid=account_sid, auth_token=auth_token)
        self.callbacks = callbacks
        # Seconds each request takes, as a real provider's round trip does.
        self.delay = delay
        self.callback_statuses: list[int] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeTwilioServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def send_callbacks(self, sms: SentSms, statuses: tuple[str, ...]) -> None:
        """Post Twilio's signed status callbacks for `sms`, in order."""
        if not sms.status_callback:
            return
        for status in statuses:
            params = status_callback_params(sms, status, account_sid=self.api.account_sid)
            request = simulate.signed_request(
                sms.status_callback, params, token=self.api.auth_token
            )
            try:
                self.callback_statuses.append(simulate.post(request))
            except OSError:
                # The server is gone (a test's servers stop while callbacks are in flight):
                # Twilio, too, gives up on a callback nobody answers.
                self.callback_statuses.append(0)
                return

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
                return  # request lines would print numbers and texts

            def do_POST(self) -> None:
                if fake.delay:
                    time.sleep(fake.delay)
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(
                    self.rfile.read(length).decode(), keep_blank_values=True
                )
                data = {key: values[-1] for key, values in form.items()}
                try:
                    status, text = fake.api.handle("POST", self.path, data, _basic_auth(self))
                except requests.ReadTimeout:
                    self.close_connection = True
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text.encode())))
                    self.end_headers()
                    self.wfile.write(text.encode())
                except (BrokenPipeError, ConnectionResetError):
                    # The sender is gone (killed mid-call). Twilio took the text all the
                    # same, and calls back about it as it always does.
                    self.close_connection = True
                finally:
                    if status == 201 and fake.callbacks:
                        sms = fake.api.sent[-1]
                        threading.Thread(
                            target=fake.send_callbacks, args=(sms, fake.callbacks), daemon=True
                        ).start()

        return Handler


def _basic_auth(handler: BaseHTTPRequestHandler) -> tuple[str, str] | None:
    header = handler.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


@contextlib.contextmanager
def fake_twilio_server(**kwargs: Any) -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
