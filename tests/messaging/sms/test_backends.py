"""SMS backends: the Twilio backend (the real twilio library, on the fake Twilio HTTP API of
tests/support/fake_twilio.py), the console backend, and `send_sms`.

Errors sort into temporary (timeouts, connection errors, 5xx, 429) and permanent (anything
else; 21610 means the number opted out). Their messages carry the HTTP status and Twilio's
error code only: never the phone number or the text, which Twilio's own messages can quote.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import pytest
import requests
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from messaging.sms import backends
from messaging.sms.backends import (
    ConsoleSmsBackend,
    OutgoingSms,
    SmsPermanentError,
    SmsReceipt,
    SmsTemporaryError,
    TwilioSmsBackend,
    send_sms,
    twilio_client,
)
from tests.support.factories import fictional_phone
from tests.support.fake_twilio import Failure

BODY = "Thinking of you today. Talk on Thursday?"
CALLBACK = "https://peerlink.test/sms/twilio/status/?outbox=12"


def outgoing(to: str | None = None, **kwargs: Any) -> OutgoingSms:
    fields: dict[str, Any] = {
        "to": to or fictional_phone(),
        "body": BODY,
        "purpose": "chat",
        "reference": "12",
        "status_callback": CALLBACK,
    }
    fields.update(kwargs)
    return OutgoingSms(**fields)


def send_failing(sms: OutgoingSms) -> SmsTemporaryError | SmsPermanentError:
    with pytest.raises((SmsTemporaryError, SmsPermanentError)) as caught:
        TwilioSmsBackend().send(sms)
    error = caught.value
    assert isinstance(error, SmsTemporaryError | SmsPermanentError)
    return error


def everything_said_about(error: BaseException) -> str:
    """str, repr and the full formatted traceback (with any chained exception)."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


class ScriptedHttpClient(HttpClient):
    """An http_client for a twilio Client that answers every request with one response (or
    raises one exception): for answers the fake Twilio does not script."""

    def __init__(self, status: int = 201, text: str = "", raises: Exception | None = None):
        super().__init__(logging.getLogger(__name__), is_async=False, timeout=None)
        self.status, self.text, self.raises = status, text, raises

    def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> Response:
        if self.raises is not None:
            raise self.raises
        return Response(self.status, self.text)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, settings: Any):  # type: ignore[no-untyped-def]
    """Make the Twilio backend's Client use a ScriptedHttpClient."""

    def use(http_client: ScriptedHttpClient) -> None:
        client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
        )
        monkeypatch.setattr(backends, "twilio_client", lambda: client)

    return use


# --- What the library sends ---------------------------------------------------------------


def test_a_send_reaches_twilio_with_the_number_and_the_text(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    to = fictional_phone()
    TwilioSmsBackend().send(outgoing(to))
    (sent,) = fake_twilio.sent
    assert (sent.to, sent.body) == (to, BODY)


def test_a_send_goes_through_the_messaging_service(fake_twilio, settings) -> None:  # type: ignore[no-untyped-def]
    TwilioSmsBackend().send(outgoing())
    assert fake_twilio.sent[0].messaging_service_sid == "MG" + "0" * 32
    assert fake_twilio.sent[0].messaging_service_sid == settings.TWILIO_MESSAGING_SERVICE_SID


def test_a_send_names_its_status_callback(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    TwilioSmsBackend().send(outgoing())
    assert fake_twilio.sent[0].status_callback == CALLBACK


def test_a_send_without_a_status_callback_sends_none(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    TwilioSmsBackend().send(outgoing(status_callback=None))
    assert fake_twilio.sent[0].status_callback is None


def test_a_send_returns_twilios_message_sid_and_status(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    receipt = TwilioSmsBackend().send(outgoing())
    # The fake answers as Twilio does for a Messaging Service send: status "accepted".
    assert receipt == SmsReceipt(provider_message_id=fake_twilio.sent[0].sid, status="accepted")
    assert receipt.provider_message_id.startswith("SM")


def test_each_send_is_one_request(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    backend = TwilioSmsBackend()
    first = backend.send(outgoing())
    second = backend.send(outgoing())
    assert fake_twilio.requests == 2
    assert first.provider_message_id != second.provider_message_id


def test_a_unicode_text_reaches_twilio_unchanged(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    body = "Ça va ? مرحبا 你好 \U0001f600"
    TwilioSmsBackend().send(outgoing(body=body))
    assert fake_twilio.sent[0].body == body


# --- The client cache ---------------------------------------------------------------------


def test_the_same_credentials_reuse_one_client() -> None:
    assert twilio_client() is twilio_client()


def test_a_changed_auth_token_builds_a_new_client(settings) -> None:  # type: ignore[no-untyped-def]
    before = twilio_client()
    settings.TWILIO_AUTH_TOKEN = "another-token"
    after = twilio_client()
    assert after is not before
    assert after.password == "another-token"


# --- Temporary failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, 20500), (502, 20502), (503, 20503), (504, 20504), (429, 20429)],
)
def test_a_5xx_or_429_answer_is_a_temporary_error(fake_twilio, status: int, code: int) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(Failure(status=status, code=code))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert (error.http_status, error.code) == (status, code)


def test_a_timeout_is_a_temporary_error_without_status_or_code(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(Failure(timeout=True))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert (error.http_status, error.code) == (None, None)


def test_a_timeout_after_twilio_accepted_the_text_is_still_temporary(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    # The ambiguous failure: Twilio has it, we never heard back.
    fake_twilio.fail_next(Failure(timeout=True, sends=True))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert len(fake_twilio.sent) == 1


def test_a_connection_error_is_a_temporary_error(scripted) -> None:  # type: ignore[no-untyped-def]
    scripted(ScriptedHttpClient(raises=requests.ConnectionError("connection refused")))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert (error.http_status, error.code) == (None, None)


def test_an_answer_without_a_message_sid_is_a_temporary_error(scripted) -> None:  # type: ignore[no-untyped-def]
    scripted(ScriptedHttpClient(201, json.dumps({"status": "accepted"})))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)


def test_only_the_next_request_fails(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(Failure(status=503, code=20503))
    send_failing(outgoing())
    receipt = TwilioSmsBackend().send(outgoing())
    assert receipt.provider_message_id == fake_twilio.sent[0].sid


# --- Permanent failures -------------------------------------------------------------------


def test_an_invalid_number_is_a_permanent_error_that_is_not_an_opt_out(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(Failure(status=400, code=21211))
    error = send_failing(outgoing())
    assert isinstance(error, SmsPermanentError)
    assert (error.http_status, error.code) == (400, 21211)
    assert error.opted_out is False


def test_a_number_twilio_rejects_itself_is_a_permanent_error(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    # Not scripted: the fake checks the To number as Twilio does ("+1234" is not E.164).
    error = send_failing(outgoing("+1234"))
    assert isinstance(error, SmsPermanentError)
    assert error.code == 21211
    assert fake_twilio.sent == []


def test_error_21610_is_a_permanent_error_meaning_opted_out(fake_twilio) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(Failure(status=400, code=21610))
    error = send_failing(outgoing())
    assert isinstance(error, SmsPermanentError)
    assert (error.http_status, error.code) == (400, 21610)
    assert error.opted_out is True


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 21211), (400, 21408), (400, 21614), (400, 21617), (403, 20403), (404, 20404)],
)
def test_other_4xx_answers_are_permanent_errors_and_not_opt_outs(
    fake_twilio,  # type: ignore[no-untyped-def]
    status: int,
    code: int,
) -> None:
    fake_twilio.fail_next(Failure(status=status, code=code))
    error = send_failing(outgoing())
    assert isinstance(error, SmsPermanentError)
    assert (error.http_status, error.code) == (status, code)
    assert not error.opted_out


def test_wrong_credentials_are_retried_not_given_up(fake_twilio, settings, caplog) -> None:  # type: ignore[no-untyped-def]
    # A rotated or mistyped token is our fault, not the text's: retried (with backoff), so
    # that the texts go once the setting is fixed; and logged as an error for the operators.
    # The fake expects the test profile's token; a changed token builds a new Client with it.
    settings.TWILIO_AUTH_TOKEN = "not-the-right-token"
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert (error.http_status, error.code, error.ambiguous) == (401, 20003, False)
    assert fake_twilio.sent == []
    assert any(
        r.levelname == "ERROR" and "account settings" in r.getMessage() for r in caplog.records
    )


def test_a_full_messaging_service_queue_is_retried(scripted) -> None:  # type: ignore[no-untyped-def]
    scripted(ScriptedHttpClient(400, '{"code": 21611, "message": "queue full", "status": 400}'))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert error.code == 21611


def test_a_4xx_answer_that_is_not_json_is_a_permanent_error(scripted) -> None:  # type: ignore[no-untyped-def]
    scripted(ScriptedHttpClient(400, "<html>Bad Request</html>"))
    error = send_failing(outgoing())
    assert isinstance(error, SmsPermanentError)
    assert error.http_status == 400
    assert not error.opted_out


def test_a_5xx_answer_that_is_not_json_is_a_temporary_error(scripted) -> None:  # type: ignore[no-untyped-def]
    # A load balancer's HTML error page in front of Twilio.
    scripted(ScriptedHttpClient(502, "<html>502 Bad Gateway</html>"))
    error = send_failing(outgoing())
    assert isinstance(error, SmsTemporaryError)
    assert error.http_status == 502


def _problem(status: int, code: int, detail: str) -> str:
    """An RFC 9457 problem-details answer, which twilio>=9.x turns into TwilioServiceException
    (not a TwilioRestException) when it has type, title, status and code."""
    return json.dumps(
        {
            "type": f"https://www.twilio.com/docs/errors/{code}",
            "title": "Scripted problem",
            "status": status,
            "code": code,
            "detail": detail,
        }
    )


def _raised_by_send(sms: OutgoingSms) -> BaseException | None:
    try:
        TwilioSmsBackend().send(sms)
    except Exception as exc:  # whatever comes out, to check its class
        return exc
    return None


@pytest.mark.parametrize(
    ("status", "code", "kind", "opted_out"),
    [
        (400, 21211, SmsPermanentError, False),
        (400, 21610, SmsPermanentError, True),
        (503, 20503, SmsTemporaryError, None),
        (429, 20429, SmsTemporaryError, None),
    ],
)
def test_a_problem_details_answer_is_sorted_like_any_other_error(
    scripted,  # type: ignore[no-untyped-def]
    status: int,
    code: int,
    kind: type[Exception],
    opted_out: bool | None,
) -> None:
    scripted(ScriptedHttpClient(status, _problem(status, code, "Scripted detail")))
    error = _raised_by_send(outgoing())
    assert type(error) is kind, f"{type(error).__name__} escaped the backend unsorted"
    assert isinstance(error, SmsPermanentError | SmsTemporaryError)
    assert (error.http_status, error.code) == (status, code)
    if opted_out is not None:
        assert isinstance(error, SmsPermanentError)
        assert error.opted_out is opted_out


def test_a_problem_details_answer_quoting_the_number_does_not_reach_the_error(scripted) -> None:  # type: ignore[no-untyped-def]
    to = fictional_phone()
    answer = _problem(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    scripted(ScriptedHttpClient(400, answer))
    error = _raised_by_send(outgoing(to))
    assert error is not None
    assert to not in everything_said_about(error)


def test_opted_out_is_only_error_21610() -> None:
    assert SmsPermanentError(http_status=400, code=21610).opted_out
    assert not SmsPermanentError(http_status=400, code=21611).opted_out
    assert not SmsPermanentError(http_status=400, code=None).opted_out


# --- What an error says -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (Failure(status=500, code=20500), "SmsTemporaryError: status=500 code=20500"),
        (Failure(status=429, code=20429), "SmsTemporaryError: status=429 code=20429"),
        (Failure(status=400, code=21211), "SmsPermanentError: status=400 code=21211"),
        (Failure(status=400, code=21610), "SmsPermanentError: status=400 code=21610"),
        (Failure(timeout=True), "SmsTemporaryError: status=None code=None"),
    ],
)
def test_an_error_message_is_status_and_code_only(fake_twilio, failure, message: str) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(failure)
    assert str(send_failing(outgoing())) == message


@pytest.mark.parametrize(
    "failure",
    [
        Failure(status=500, code=20500),
        Failure(status=400, code=21211),
        Failure(status=400, code=21610),
        Failure(timeout=True),
    ],
)
def test_an_error_carries_neither_the_number_nor_the_text(fake_twilio, failure) -> None:  # type: ignore[no-untyped-def]
    to = fictional_phone()
    fake_twilio.fail_next(failure)
    said = everything_said_about(send_failing(outgoing(to)))
    assert to not in said
    assert to[2:] not in said  # nor the national number
    assert BODY not in said


@pytest.mark.parametrize(
    "failure",
    [Failure(status=500, code=20500), Failure(status=400, code=21211), Failure(timeout=True)],
)
def test_an_error_hides_the_libraries_exception(fake_twilio, failure) -> None:  # type: ignore[no-untyped-def]
    fake_twilio.fail_next(failure)
    error = send_failing(outgoing())
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


def test_twilios_message_quoting_the_number_does_not_reach_the_error(scripted) -> None:  # type: ignore[no-untyped-def]
    # Twilio's real message for 21211 quotes the number; the library puts it in its exception.
    to = fictional_phone()
    answer = {
        "code": 21211,
        "message": f"The 'To' number {to} is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    scripted(ScriptedHttpClient(400, json.dumps(answer)))
    error = send_failing(outgoing(to))
    assert isinstance(error, SmsPermanentError)
    assert error.code == 21211
    assert to not in everything_said_about(error)


# --- The console backend ------------------------------------------------------------------


def test_the_console_backend_prints_the_text_and_only_the_last_two_digits(capsys) -> None:  # type: ignore[no-untyped-def]
    ConsoleSmsBackend().send(
        OutgoingSms(to="+17805550142", body="Your code is 314159", purpose="sign_in", reference="9")
    )
    out = capsys.readouterr().out
    # "+17805550142" is 12 characters: 10 masked, then "42".
    assert "[console SMS to **********42 (sign_in)]" in out
    assert "Your code is 314159" in out
    assert "+17805550142" not in out
    assert "7805550142" not in out


def test_the_console_backend_returns_a_console_receipt() -> None:
    receipt = ConsoleSmsBackend().send(
        OutgoingSms(to="+17805550143", body="hello", purpose="chat", reference="31")
    )
    assert receipt == SmsReceipt(provider_message_id="console-chat-31", status="sent")


def test_the_console_backend_sends_nothing_to_twilio(fake_twilio, capsys) -> None:  # type: ignore[no-untyped-def]
    ConsoleSmsBackend().send(outgoing())
    assert fake_twilio.requests == 0


# --- send_sms and logging -----------------------------------------------------------------


def test_send_sms_uses_the_configured_backend(fake_twilio, settings, capsys) -> None:  # type: ignore[no-untyped-def]
    settings.SMS_BACKEND = "messaging.sms.ConsoleSmsBackend"
    receipt = send_sms(outgoing(reference="44"))
    assert receipt.provider_message_id == "console-chat-44"
    assert fake_twilio.requests == 0


def test_send_sms_logs_the_purpose_and_reference(fake_twilio, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    send_sms(outgoing(reference="77"))
    messages = [r.getMessage() for r in caplog.records if r.name == "messaging.sms.backends"]
    assert messages == ["sms handed to provider purpose=chat reference=77"]


@pytest.mark.parametrize(
    "backend", ["messaging.sms.TwilioSmsBackend", "messaging.sms.ConsoleSmsBackend"]
)
def test_send_sms_logs_neither_the_number_nor_the_text(
    fake_twilio,  # type: ignore[no-untyped-def]
    settings,
    caplog,
    capsys,
    backend: str,
) -> None:
    settings.SMS_BACKEND = backend
    caplog.set_level(logging.DEBUG)
    to = fictional_phone()
    send_sms(outgoing(to))
    assert caplog.records  # something was logged, and none of it is personal
    assert to not in caplog.text
    assert to[2:] not in caplog.text
    assert BODY not in caplog.text


def test_a_failed_send_logs_neither_the_number_nor_the_text(fake_twilio, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    to = fictional_phone()
    fake_twilio.fail_next(Failure(status=400, code=21211))
    with pytest.raises(SmsPermanentError):
        send_sms(outgoing(to))
    assert to not in caplog.text
    assert BODY not in caplog.text


@pytest.mark.parametrize("name", ["twilio", "twilio.http_client", "twilio.rest"])
def test_the_twilio_loggers_are_at_warning_or_above(name: str) -> None:
    # The library logs each API request (URL, headers) at INFO.
    assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING


def test_the_twilio_http_clients_request_log_is_not_emitted(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    to = fictional_phone()
    TwilioHttpClient().log_request(
        {
            "method": "POST",
            "url": "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages.json",
            "params": {"To": to},
            "headers": {"User-Agent": "twilio-python"},
        }
    )
    assert [r for r in caplog.records if r.name.startswith("twilio")] == []
    assert to not in caplog.text
