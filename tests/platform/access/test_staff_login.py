"""Staff sign-in: the browser session login, the API token login, logout and `me`.

Passwords are the factory's ("pw-for-tests-only"); the `world` fixture supplies staff users
named admin, supervisor, peer, other-peer and evaluator in the programme "trial".
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.authtoken.models import Token

from audit.models import AuditEntry
from people.models import User
from programmes.models import Role
from programmes.services import grant_role
from tests.support.factories import World, make_programme, make_staff

PASSWORD = "pw-for-tests-only"
LOGIN = "/api/v1/auth/login/"
TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"
CSRF = "/api/v1/auth/csrf/"
WS_TICKET = "/api/v1/ws-ticket/"
SMS_VERIFY = "/api/v1/auth/sms-code/verify/"


def post(client: Client, path: str, body: Any = None, **extra: Any) -> Any:
    return client.post(
        path, body if body is not None else {}, content_type="application/json", **extra
    )


def login(client: Client, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return post(client, LOGIN, {"username": username, "password": password}, **extra)


# --- session login -------------------------------------------------------------------------


def test_right_password_answers_200_with_the_me_payload(world: World) -> None:
    response = login(Client(), "peer")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == world.peer.id
    assert body["kind"] == "staff"
    assert body["roles"] == [{"programme": "trial", "role": Role.PEER_SUPPORTER}]
    assert body["participant_id"] is None
    assert body["display_name"]


def test_right_password_sets_a_session_cookie_that_signs_later_requests_in(world: World) -> None:
    client = Client()

    response = login(client, "peer")

    assert response.cookies["sessionid"].value
    assert response.cookies["sessionid"]["httponly"]
    me = client.get(ME)
    assert me.status_code == 200
    assert me.json()["id"] == world.peer.id


def test_right_password_records_an_auth_login_audit_entry(world: World) -> None:
    login(Client(), "peer")

    entries = AuditEntry.objects.filter(action="auth.login")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.actor_id == world.peer.id
    assert entry.target_id == str(world.peer.id)
    assert entry.details == {"channel": "password"}


def test_wrong_password_is_401_invalid_credentials(world: World) -> None:
    response = login(Client(), "peer", "not-the-password")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert response.json()["message"]


def test_wrong_password_starts_no_session(world: World) -> None:
    client = Client()

    response = login(client, "peer", "not-the-password")

    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0
    assert client.get(ME).status_code == 403


def test_unknown_username_gets_the_same_answer_as_a_wrong_password(world: World) -> None:
    wrong_password = login(Client(), "peer", "not-the-password")
    unknown_user = login(Client(), "nobody-by-this-name", "not-the-password")

    assert unknown_user.status_code == wrong_password.status_code == 401
    assert unknown_user.json() == wrong_password.json()


def test_wrong_password_records_a_failed_login_without_username_or_password(db: None) -> None:
    programme = make_programme()
    make_staff(programme, Role.PEER_SUPPORTER, "distinctive-staff-name-q7")

    login(Client(), "distinctive-staff-name-q7", "Distinctive-Wrong-Secret-z9")

    entries = AuditEntry.objects.filter(action="auth.login_failed")
    assert entries.count() == 1
    stored = json.dumps(
        {
            "details": entries.get().details,
            "target_type": entries.get().target_type,
            "target_id": entries.get().target_id,
        }
    )
    assert "distinctive-staff-name-q7" not in stored
    assert "Distinctive-Wrong-Secret-z9" not in stored
    assert not AuditEntry.objects.filter(action="auth.login").exists()


def test_failed_login_for_unknown_username_does_not_store_the_username(db: None) -> None:
    login(Client(), "someone-typed-this-q8", "Distinctive-Wrong-Secret-z9")

    entry = AuditEntry.objects.get(action="auth.login_failed")
    stored = json.dumps([entry.details, entry.target_type, entry.target_id])
    assert "someone-typed-this-q8" not in stored
    assert "Distinctive-Wrong-Secret-z9" not in stored


def test_service_user_account_has_an_unusable_password(world: World) -> None:
    assert not world.own.participant.user.has_usable_password()


def test_service_user_cannot_sign_in_with_a_password_even_if_one_is_set(world: World) -> None:
    user = world.own.participant.user
    user.set_password("participant-password-1")
    user.save(update_fields=["password"])

    response = login(Client(), user.username, "participant-password-1")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert Session.objects.count() == 0


def test_service_user_cannot_get_a_token_with_a_password(world: World) -> None:
    user = world.own.participant.user
    user.set_password("participant-password-1")
    user.save(update_fields=["password"])

    response = post(
        Client(), TOKEN, {"username": user.username, "password": "participant-password-1"}
    )

    assert response.status_code == 401
    assert not Token.objects.filter(user=user).exists()


def test_user_without_a_staff_role_cannot_sign_in(db: None) -> None:
    User.objects.create_user(username="roleless", password=PASSWORD)

    response = login(Client(), "roleless")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert Session.objects.count() == 0


def test_user_without_a_staff_role_gets_a_failed_login_entry(db: None) -> None:
    user = User.objects.create_user(username="roleless", password=PASSWORD)

    login(Client(), "roleless")

    entry = AuditEntry.objects.get(action="auth.login_failed")
    assert entry.actor_id == user.id
    assert "roleless" not in json.dumps(entry.details)


def test_superuser_without_a_programme_role_can_sign_in(db: None) -> None:
    User.objects.create_superuser(username="root", password=PASSWORD)

    response = login(Client(), "root")

    assert response.status_code == 200
    assert response.json()["kind"] == "staff"
    assert response.json()["roles"] == []


def test_deactivated_staff_member_cannot_sign_in(world: World) -> None:
    world.peer.is_active = False
    world.peer.save(update_fields=["is_active"])

    response = login(Client(), "peer")

    assert response.status_code == 401
    assert Session.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({}, {"username", "password"}),
        ({"username": "peer"}, {"password"}),
        ({"password": PASSWORD}, {"username"}),
    ],
    ids=["both", "password", "username"],
)
def test_missing_fields_are_400_invalid_naming_the_fields(
    world: World, body: dict[str, str], missing: set[str]
) -> None:
    response = post(Client(), LOGIN, body)

    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "invalid"
    assert data["message"]
    assert set(data["fields"]) == missing
    assert Session.objects.count() == 0


def test_session_logout_ends_the_session(world: World) -> None:
    client = Client()
    login(client, "peer")

    response = post(client, LOGOUT)

    assert response.status_code == 204
    assert client.get(ME).status_code == 403


# --- CSRF ----------------------------------------------------------------------------------


def test_login_without_a_csrf_token_is_forbidden(world: World) -> None:
    client = Client(enforce_csrf_checks=True)

    response = login(client, "peer")

    assert response.status_code == 403
    assert Session.objects.count() == 0
    assert not AuditEntry.objects.filter(action="auth.login").exists()


def test_login_with_the_csrf_cookie_but_no_header_is_forbidden(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get(CSRF)

    response = login(client, "peer")

    assert response.status_code == 403
    assert Session.objects.count() == 0


def test_csrf_endpoint_sets_the_csrf_cookie(db: None) -> None:
    response = Client(enforce_csrf_checks=True).get(CSRF)

    assert response.status_code == 204
    assert response.cookies["csrftoken"].value


def test_login_with_the_csrf_token_from_the_cookie_succeeds(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get(CSRF)
    token = client.cookies["csrftoken"].value

    response = login(client, "peer", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200
    assert response.json()["id"] == world.peer.id


def test_login_with_a_made_up_csrf_token_is_forbidden(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get(CSRF)

    response = login(client, "peer", HTTP_X_CSRFTOKEN="x" * 32)

    assert response.status_code == 403
    assert Session.objects.count() == 0


def test_sms_code_verify_without_a_csrf_token_is_forbidden(world: World) -> None:
    client = Client(enforce_csrf_checks=True)

    response = post(client, SMS_VERIFY, {"phone": "+17805550100", "code": "123456"})

    assert response.status_code == 403


def test_session_authenticated_ws_ticket_without_a_csrf_token_is_forbidden(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.peer)

    response = post(client, WS_TICKET)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_session_authenticated_ws_ticket_with_the_csrf_token_is_issued(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.peer)
    client.get(CSRF)

    response = post(client, WS_TICKET, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert response.status_code == 201


def test_session_logout_without_a_csrf_token_is_forbidden(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.peer)

    response = post(client, LOGOUT)

    assert response.status_code == 403
    assert client.get(ME).status_code == 200


# --- token login ---------------------------------------------------------------------------


def test_token_endpoint_returns_a_token_for_the_right_password(world: World) -> None:
    response = post(Client(), TOKEN, {"username": "peer", "password": PASSWORD})

    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(key=key).user == world.peer


def test_token_endpoint_starts_no_session(world: World) -> None:
    response = post(Client(), TOKEN, {"username": "peer", "password": PASSWORD})

    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0


def test_token_login_is_audited_with_the_token_channel(world: World) -> None:
    post(Client(), TOKEN, {"username": "peer", "password": PASSWORD})

    entry = AuditEntry.objects.get(action="auth.login")
    assert entry.actor_id == world.peer.id
    assert entry.details == {"channel": "token"}


def test_token_endpoint_refuses_a_wrong_password(world: World) -> None:
    response = post(Client(), TOKEN, {"username": "peer", "password": "not-the-password"})

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert not Token.objects.exists()


def test_token_in_the_authorization_header_signs_in(world: World) -> None:
    key = post(Client(), TOKEN, {"username": "peer", "password": PASSWORD}).json()["token"]

    response = Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 200
    assert response.json()["id"] == world.peer.id


def test_token_authenticated_post_needs_no_csrf_token(world: World) -> None:
    key = post(Client(), TOKEN, {"username": "peer", "password": PASSWORD}).json()["token"]

    response = post(Client(enforce_csrf_checks=True), WS_TICKET, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 201


def test_logout_with_a_token_deletes_the_token(world: World) -> None:
    key = post(Client(), TOKEN, {"username": "peer", "password": PASSWORD}).json()["token"]

    response = post(Client(), LOGOUT, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 204
    assert not Token.objects.filter(key=key).exists()


def test_token_no_longer_signs_in_after_logout(world: World) -> None:
    key = post(Client(), TOKEN, {"username": "peer", "password": PASSWORD}).json()["token"]
    post(Client(), LOGOUT, HTTP_AUTHORIZATION=f"Token {key}")

    response = Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code in (401, 403)
    assert set(response.json()) >= {"code", "message"}


def test_made_up_token_does_not_sign_in(world: World) -> None:
    response = Client().get(ME, HTTP_AUTHORIZATION="Token " + "0" * 40)

    assert response.status_code in (401, 403)


# --- me ------------------------------------------------------------------------------------


def test_me_for_staff_lists_every_role_per_programme(world: World) -> None:
    second = make_programme("second")
    grant_role(user=world.peer, programme=second, role=Role.SUPERVISOR)
    grant_role(user=world.peer, programme=second, role=Role.EVALUATOR)
    client = Client()
    client.force_login(world.peer)

    response = client.get(ME)

    assert response.status_code == 200
    assert response.json()["roles"] == [
        {"programme": "second", "role": Role.EVALUATOR},
        {"programme": "second", "role": Role.SUPERVISOR},
        {"programme": "trial", "role": Role.PEER_SUPPORTER},
    ]


def test_me_for_staff_does_not_list_other_peoples_roles(world: World) -> None:
    client = Client()
    client.force_login(world.admin)

    response = client.get(ME)

    assert response.json()["roles"] == [{"programme": "trial", "role": Role.ADMIN}]


def test_me_for_a_service_user_shows_no_name_and_no_roles(world: World) -> None:
    client = Client()
    client.force_login(world.own.participant.user)

    body = client.get(ME).json()

    assert body["kind"] == "participant"
    assert body["participant_id"] == str(world.own.participant.id)
    assert body["roles"] == []
    assert body["display_name"] == ""
