"""Production refuses to start without what the SMS channel needs, naming the variable: the
auth token that verifies Twilio's webhooks, the account and the Messaging Service that send;
and it sends through Twilio only. Fresh processes with clean environments, as deployments."""

from __future__ import annotations

import pytest

from tests.support import production


def test_production_starts_with_the_twilio_settings() -> None:
    result = production.django_setup()
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    "variable", ["TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_MESSAGING_SERVICE_SID"]
)
def test_production_refuses_to_start_without(variable: str) -> None:
    result = production.django_setup(**{variable: None})
    assert result.returncode != 0
    assert f"{variable} must be set in production" in result.stderr


def test_production_refuses_the_console_backend() -> None:
    # It would write every text and sign-in code to the log stream and mark them sent.
    result = production.django_setup(SMS_BACKEND="messaging.sms.ConsoleSmsBackend")
    assert result.returncode != 0
    assert "SMS_BACKEND must be messaging.sms.TwilioSmsBackend in production" in result.stderr


def test_the_refusal_never_echoes_the_token() -> None:
    token = "a-secret-token-value-never-echoed"
    result = production.django_setup(TWILIO_ACCOUNT_SID=None, TWILIO_AUTH_TOKEN=token)
    assert result.returncode != 0
    assert token not in result.stderr and token not in result.stdout
