"""Production refuses to start without what the SMS channel needs, naming the variable: the
auth token that verifies Twilio's webhooks always, and with the Twilio backend the account and
the Messaging Service that send. Fresh processes with clean environments, as deployments."""

from __future__ import annotations

import pytest

from tests.support import production


def test_production_starts_with_the_twilio_settings() -> None:
    result = production.django_setup()
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    "variable", ["TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_MESSAGING_SERVICE_SID"]
)
def test_production_with_the_twilio_backend_refuses_to_start_without(variable: str) -> None:
    result = production.django_setup(**{variable: None})
    assert result.returncode != 0
    assert f"{variable} must be set in production" in result.stderr


def test_production_needs_the_webhook_token_whatever_the_backend() -> None:
    result = production.django_setup(
        SMS_BACKEND="messaging.sms.ConsoleSmsBackend", TWILIO_AUTH_TOKEN=None
    )
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN must be set in production" in result.stderr


def test_production_with_another_backend_needs_no_twilio_account() -> None:
    result = production.django_setup(
        SMS_BACKEND="messaging.sms.ConsoleSmsBackend",
        TWILIO_ACCOUNT_SID=None,
        TWILIO_MESSAGING_SERVICE_SID=None,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_refusal_never_echoes_the_token() -> None:
    token = "a-secret-token-value-never-echoed"
    result = production.django_setup(TWILIO_ACCOUNT_SID=None, TWILIO_AUTH_TOKEN=token)
    assert result.returncode != 0
    assert token not in result.stderr and token not in result.stdout
