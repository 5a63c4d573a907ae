"""Rate limits on sign-in, SMS codes and WebSocket tickets (DESIGN.md §5).

DRF reads a throttle's rate from the class attribute `THROTTLE_RATES` when the throttle is
built, so the tests lower the rates by patching that attribute on each throttle class.
The cache that holds the counters is cleared before every test (tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from access.throttles import (
    LoginIpThrottle,
    LoginUsernameThrottle,
    SmsCodeIpThrottle,
    SmsCodePhoneThrottle,
    WsTicketThrottle,
)
from people.selectors import participant_profile
from tests.support.factories import World
from tests.support.fake_twilio import FAKE_TWILIO

PASSWORD = "pw-for-tests-only"
LOGIN = "/api/v1/auth/login/"
TOKEN = "/api/v1/auth/token/"
SMS_CODE = "/api/v1/auth/sms-code/"
SMS_VERIFY = "/api/v1/auth/sms-code/verify/"
WS_TICKET = "/api/v1/ws-ticket/"

GENEROUS = {
    "login_ip": "1000/min",
    "login_username": "1000/min",
    "sms_code_ip": "1000/min",
    "sms_code_phone": "1000/hour",
    "ws_ticket": "1000/min",
}
THROTTLES = (
    LoginIpThrottle,
    LoginUsernameThrottle,
    SmsCodeIpThrottle,
    SmsCodePhoneThrottle,
    WsTicketThrottle,
)


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call with the scopes to lower; every other scope is generous."""

    def set_rates(**lowered: str) -> None:
        table = {**GENEROUS, **lowered}
        for cls in THROTTLES:
            monkeypatch.setattr(cls, "THROTTLE_RATES", table)

    return set_rates


def post(client: Client, path: str, body: Any = None, **extra: Any) -> Any:
    return client.post(
        path, body if body is not None else {}, content_type="application/json", **extra
    )


def login(username: str, password: str = "not-the-password", **extra: Any) -> Any:
    return post(Client(), LOGIN, {"username": username, "password": password}, **extra)


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content[:300]
    body = response.json()
    assert body["code"] == "throttled"
    assert body["message"]


# --- login ---------------------------------------------------------------------------------


def test_fourth_login_attempt_from_one_address_is_throttled(world: World, rates: Any) -> None:
    rates(login_ip="3/min", login_username="100/min")

    answers = [login(f"user-{i}", REMOTE_ADDR="203.0.113.5").status_code for i in range(3)]
    fourth = login("user-4", REMOTE_ADDR="203.0.113.5")

    assert answers == [401, 401, 401]
    assert_throttled(fourth)


def test_throttled_login_says_when_to_retry(world: World, rates: Any) -> None:
    rates(login_ip="1/min")
    login("peer", REMOTE_ADDR="203.0.113.5")

    response = login("peer", REMOTE_ADDR="203.0.113.5")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_throttled_login_is_refused_even_with_the_right_password(world: World, rates: Any) -> None:
    rates(login_ip="3/min")
    for _ in range(3):
        login("peer", REMOTE_ADDR="203.0.113.5")

    response = login("peer", PASSWORD, REMOTE_ADDR="203.0.113.5")

    assert_throttled(response)
    assert Session.objects.count() == 0


def test_login_limit_from_one_address_leaves_other_addresses_alone(
    world: World, rates: Any
) -> None:
    rates(login_ip="3/min")
    for i in range(4):
        login(f"user-{i}", REMOTE_ADDR="203.0.113.5")

    response = login("peer", PASSWORD, REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 200


def test_login_attempts_for_one_username_from_many_addresses_are_throttled(
    world: World, rates: Any
) -> None:
    rates(login_ip="100/min", login_username="3/min")

    answers = [login("peer", REMOTE_ADDR=f"203.0.113.{i}").status_code for i in range(1, 4)]
    fourth = login("peer", REMOTE_ADDR="203.0.113.99")

    assert answers == [401, 401, 401]
    assert_throttled(fourth)


def test_username_limit_counts_case_and_space_variants_together(world: World, rates: Any) -> None:
    rates(login_username="3/min")
    for variant, addr in (
        ("peer", "203.0.113.1"),
        ("PEER", "203.0.113.2"),
        (" Peer ", "203.0.113.3"),
    ):
        login(variant, REMOTE_ADDR=addr)

    assert_throttled(login("peer", REMOTE_ADDR="203.0.113.4"))


def test_username_limit_leaves_other_usernames_alone(world: World, rates: Any) -> None:
    rates(login_username="3/min")
    for i in range(4):
        login("peer", REMOTE_ADDR=f"203.0.113.{i + 1}")

    response = login("admin", PASSWORD, REMOTE_ADDR="203.0.113.50")

    assert response.status_code == 200


def test_token_endpoint_shares_the_login_limit(world: World, rates: Any) -> None:
    rates(login_ip="3/min")
    for i in range(3):
        login(f"user-{i}", REMOTE_ADDR="203.0.113.5")

    response = post(
        Client(), TOKEN, {"username": "peer", "password": PASSWORD}, REMOTE_ADDR="203.0.113.5"
    )

    assert_throttled(response)


def test_spoofed_x_forwarded_for_does_not_escape_the_address_limit(
    world: World, rates: Any
) -> None:
    """An attacker controls X-Forwarded-For; a fresh made-up value per request must not give a
    fresh allowance (DRF trusts the header unless NUM_PROXIES is set)."""
    rates(login_ip="3/min", login_username="100/min")

    for i in range(3):
        login(f"user-{i}", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    fourth = login("user-4", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.0.0.99")

    assert_throttled(fourth)


# --- SMS codes -----------------------------------------------------------------------------


def request_code(phone: str, django_capture_on_commit_callbacks: Any, **extra: Any) -> Any:
    with django_capture_on_commit_callbacks(execute=True):
        return post(Client(), SMS_CODE, {"phone": phone}, **extra)


def test_code_requests_for_one_number_from_many_addresses_are_throttled(
    world: World, rates: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rates(sms_code_phone="2/hour")
    phone = participant_profile(world.own.participant).phone

    answers = [
        request_code(
            phone, django_capture_on_commit_callbacks, REMOTE_ADDR=f"203.0.113.{i}"
        ).status_code
        for i in (1, 2)
    ]
    third = request_code(phone, django_capture_on_commit_callbacks, REMOTE_ADDR="203.0.113.3")

    assert answers == [202, 202]
    assert_throttled(third)
    assert len(FAKE_TWILIO.sent) == 2


def test_code_request_limit_counts_formats_of_one_number_together(
    world: World, rates: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rates(sms_code_phone="2/hour")
    e164 = participant_profile(world.own.participant).phone  # +1AAA555XXXX
    national = f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    request_code(e164, django_capture_on_commit_callbacks, REMOTE_ADDR="203.0.113.1")
    request_code(national, django_capture_on_commit_callbacks, REMOTE_ADDR="203.0.113.2")

    third = request_code(e164[2:], django_capture_on_commit_callbacks, REMOTE_ADDR="203.0.113.3")

    assert_throttled(third)


def test_code_requests_from_one_address_are_throttled(
    world: World, rates: Any, django_capture_on_commit_callbacks: Any
) -> None:
    rates(sms_code_ip="2/min")
    phones = [participant_profile(e.participant).phone for e in (world.own, world.others)]
    for phone in phones:
        request_code(phone, django_capture_on_commit_callbacks, REMOTE_ADDR="203.0.113.5")

    third = request_code(phones[0], django_capture_on_commit_callbacks, REMOTE_ADDR="203.0.113.5")

    assert_throttled(third)
    assert len(FAKE_TWILIO.sent) == 2


def test_code_verification_attempts_from_one_address_are_throttled(
    world: World, rates: Any
) -> None:
    rates(sms_code_ip="3/min")
    body = {"phone": participant_profile(world.own.participant).phone, "code": "000000"}
    for _ in range(3):
        post(Client(), SMS_VERIFY, body, REMOTE_ADDR="203.0.113.5")

    assert_throttled(post(Client(), SMS_VERIFY, body, REMOTE_ADDR="203.0.113.5"))


# --- WebSocket tickets ---------------------------------------------------------------------


def test_ws_tickets_per_user_are_throttled(world: World, rates: Any) -> None:
    rates(ws_ticket="2/min")
    client = Client()
    client.force_login(world.peer)

    answers = [post(client, WS_TICKET).status_code for _ in range(2)]

    assert answers == [201, 201]
    assert_throttled(post(client, WS_TICKET))


def test_ws_ticket_limit_of_one_user_leaves_other_users_alone(world: World, rates: Any) -> None:
    rates(ws_ticket="2/min")
    busy = Client()
    busy.force_login(world.peer)
    for _ in range(3):
        post(busy, WS_TICKET)
    other = Client()
    other.force_login(world.supervisor)

    assert post(other, WS_TICKET).status_code == 201


def test_behind_one_proxy_a_spoofed_forwarded_prefix_does_not_escape_the_limit(
    world: World, rates: Any, settings: Any
) -> None:
    """Behind one proxy the client's address is the last X-Forwarded-For entry (the one the
    proxy appended); whatever the client wrote before it must not change the key."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(login_ip="3/min")

    for i in range(3):
        login(
            f"user-{i}", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, 203.0.113.5"
        )
    fourth = login(
        "user-4", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.5"
    )

    assert_throttled(fourth)


def test_behind_one_proxy_clients_are_limited_separately(
    world: World, rates: Any, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(login_ip="3/min")
    for i in range(4):
        login(f"user-{i}", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")

    response = login("peer", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert response.status_code == 200
