"""One error shape for the sign-in API: every 4xx is JSON {code, message}, never a traceback;
no input, however odd, gives a 5xx or a session."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.throttles import LoginIpThrottle
from people.selectors import participant_profile
from tests.support.factories import World

LOGIN = "/api/v1/auth/login/"
TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
SMS_CODE = "/api/v1/auth/sms-code/"
SMS_VERIFY = "/api/v1/auth/sms-code/verify/"
WS_TICKET = "/api/v1/ws-ticket/"
ME = "/api/v1/me/"


def post_json(path: str, body: Any, client: Client | None = None, **extra: Any) -> Any:
    return (client or Client()).post(path, body, content_type="application/json", **extra)


def signed_in(world: World) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.peer)
    return client


FOUR_XX: dict[str, Callable[[World], Any]] = {
    "wrong password": lambda w: post_json(LOGIN, {"username": "peer", "password": "nope"}),
    "missing fields": lambda w: post_json(LOGIN, {}),
    "malformed json": lambda w: post_json(LOGIN, "{not json"),
    "json list body": lambda w: post_json(LOGIN, [1, 2, 3]),
    "json string body": lambda w: post_json(LOGIN, '"just a string"'),
    "text/plain body": lambda w: Client().post(LOGIN, "username=peer", content_type="text/plain"),
    "form body": lambda w: Client().post(LOGIN, {"username": "peer", "password": "nope"}),
    "GET on login": lambda w: Client().get(LOGIN),
    "token wrong password": lambda w: post_json(TOKEN, {"username": "peer", "password": "nope"}),
    "unknown api path": lambda w: Client().get("/api/v1/no-such-thing/"),
    "anonymous me": lambda w: Client().get(ME),
    "anonymous logout": lambda w: post_json(LOGOUT, {}),
    "anonymous ws-ticket": lambda w: post_json(WS_TICKET, {}),
    "made-up token": lambda w: Client().get(ME, HTTP_AUTHORIZATION="Token " + "f" * 40),
    "malformed auth header": lambda w: Client().get(ME, HTTP_AUTHORIZATION="Token a b c"),
    "unreadable phone": lambda w: post_json(SMS_CODE, {"phone": "not a phone"}),
    "phone too long": lambda w: post_json(SMS_CODE, {"phone": "1" * 500}),
    "wrong sms code": lambda w: post_json(
        SMS_VERIFY, {"phone": participant_profile(w.own.participant).phone, "code": "000000"}
    ),
    "nul in code": lambda w: post_json(SMS_VERIFY, {"phone": "+17805550100", "code": "12\x003456"}),
    "ws-ticket without csrf": lambda w: post_json(WS_TICKET, {}, signed_in(w)),
}


def assert_error_shape(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = json.loads(response.content)
    assert isinstance(body.get("code"), str)
    assert body["code"]
    assert isinstance(body.get("message"), str)
    assert body["message"]
    text = response.content.decode()
    assert "Traceback" not in text
    assert 'File "' not in text


@pytest.mark.parametrize("case", sorted(FOUR_XX))
def test_every_4xx_has_code_and_message_and_no_traceback(world: World, case: str) -> None:
    assert_error_shape(FOUR_XX[case](world))


def test_throttled_login_has_code_and_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        LoginIpThrottle, "THROTTLE_RATES", {**LoginIpThrottle.THROTTLE_RATES, "login_ip": "1/min"}
    )
    post_json(LOGIN, {"username": "a", "password": "b"})

    response = post_json(LOGIN, {"username": "a", "password": "b"})

    assert response.status_code == 429
    assert_error_shape(response)


def test_csrf_failure_on_login_has_the_json_error_shape(world: World) -> None:
    """Browser sign-in without the CSRF token: refused, in the API's one error shape."""
    response = post_json(
        LOGIN, {"username": "peer", "password": "nope"}, Client(enforce_csrf_checks=True)
    )

    assert response.status_code == 403
    assert_error_shape(response)


def test_csrf_failure_on_sms_code_verify_has_the_json_error_shape(world: World) -> None:
    response = post_json(
        SMS_VERIFY, {"phone": "+17805550100", "code": "123456"}, Client(enforce_csrf_checks=True)
    )

    assert response.status_code == 403
    assert_error_shape(response)


def test_oversized_login_body_is_refused_with_a_4xx_not_a_server_error(world: World) -> None:
    """DATA_UPLOAD_MAX_MEMORY_SIZE is 256 KiB: a larger body is the client's fault."""
    body = {"username": "peer", "password": "p" * (300 * 1024)}

    response = post_json(LOGIN, body)

    assert_error_shape(response)


# --- arbitrary input -----------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.integers()
    | st.text(max_size=40)
    | st.sampled_from(
        ["peer", "admin", "wrong-password", "000000", "123456", "+17805550100", "7805550100", ""]
    )
)
VALUES = SCALARS | st.lists(SCALARS, max_size=4)
KEYS = st.sampled_from(["username", "password", "phone", "code"]) | st.text(max_size=12)
BODIES = st.dictionaries(KEYS, VALUES, max_size=6)


@pytest.mark.parametrize("path", [SMS_VERIFY, LOGIN])
@settings(
    max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(body=BODIES, use_real_phone=st.booleans())
def test_arbitrary_json_never_gives_a_server_error_or_a_session(
    world: World, path: str, body: dict[str, Any], use_real_phone: bool
) -> None:
    cache.clear()  # keep the throttles out of the way so every example reaches the view
    if use_real_phone and "phone" in body:
        body = {**body, "phone": participant_profile(world.own.participant).phone}

    response = post_json(path, body)

    assert response.status_code < 500, response.content[:300]
    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0
    if response.status_code >= 400:
        assert_error_shape(response)
