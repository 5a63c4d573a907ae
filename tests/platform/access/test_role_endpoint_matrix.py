"""Every URL pattern x every role: the allowed/denied table (DESIGN.md §5).

A new endpoint without a row here (or in an area's `matrix_*.py` beside this file) fails
`test_every_endpoint_has_a_rule`.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.platform.access import (
    matrix_boundaries,
    matrix_caseloads,
    matrix_outcomes,
    matrix_risk,
    matrix_scheduling,
    matrix_staffing,
    matrix_supervision,
    matrix_webclient,
    matrix_workload,
)
from tests.support.factories import World, fictional_phone, make_staff
from tests.support.role_matrix import (
    ROLES,
    Case,
    casework,
    everyone,
    signed_in,
    staff,
    supervisors_and_admins,
    user_for,
)


def _handoff_body(world: World) -> dict[str, Any]:
    from programmes.models import Role

    fresh = make_staff(world.programme, Role.PEER_SUPPORTER)
    return {"peer_supporter": fresh.id, "reason": "leave"}


def _conversation_id(world: World) -> str:
    from messaging.models import Conversation

    return str(Conversation.objects.get(enrolment=world.own).id)


def _shared_reply_path(world: World) -> str:
    from messaging.services import create_saved_reply

    reply = create_saved_reply(
        programme=world.programme,
        author=world.supervisor,
        title="Welcome",
        body="Hello",
        language="en",
        shared=True,
    )
    return f"/api/v1/saved-replies/{reply.id}/"


def _intake_resolve_path(world: World) -> str:
    from messaging.models import SmsIntake
    from messaging.sms.inbound import InboundText, receive_sms
    from messaging.sms.simulate import new_message_sid

    text = InboundText(
        message_sid=new_message_sid(),
        sender=fictional_phone(),
        recipient="",
        body="hi",
        num_media=0,
    )
    receive_sms(text)
    intake = SmsIntake.objects.get(inbound__message_sid=text.message_sid)
    return f"/api/v1/sms-intake/{intake.id}/resolve/"


def conversation_member(own: int) -> dict[str, int]:
    """A conversation of `world.own`: its person and peer take part, the team's supervisor
    reads (audited); nobody else may know it exists."""
    return {
        "anonymous": 403,
        "service_user": own,
        "other_peer": 404,
        "own_peer": own,
        "supervisor": own,
        "evaluator": 404,
        "admin": 404,
    }


def case_notes(own: int) -> dict[str, int]:
    """Case notes of `world.own`: its peer and the team's supervisor only, never the person."""
    return {**casework(own), "admin": 404}


# Rows of whole areas, each in its own file beside this one.
AREA_ROWS: list[dict[tuple[str, str], Case]] = [
    matrix_boundaries.ROWS,
    matrix_caseloads.ROWS,
    matrix_outcomes.ROWS,
    matrix_risk.ROWS,
    matrix_scheduling.ROWS,
    matrix_staffing.ROWS,
    matrix_supervision.ROWS,
    matrix_workload.ROWS,
    matrix_webclient.ROWS,
]

MATRIX: dict[tuple[str, str], Case] = {
    ("healthz", "GET"): Case("GET", lambda w: "/healthz", everyone(200)),
    ("readyz", "GET"): Case("GET", lambda w: "/readyz", everyone(200)),
    ("metrics", "GET"): Case("GET", lambda w: "/metrics", everyone(200)),
    ("schema", "GET"): Case("GET", lambda w: "/api/schema/", everyone(200)),
    ("auth-csrf", "GET"): Case("GET", lambda w: "/api/v1/auth/csrf/", everyone(204)),
    ("auth-login", "POST"): Case(
        "POST",
        lambda w: "/api/v1/auth/login/",
        everyone(401),
        lambda w: {"username": "admin", "password": "wrong"},
    ),
    ("auth-token", "POST"): Case(
        "POST",
        lambda w: "/api/v1/auth/token/",
        everyone(401),
        lambda w: {"username": "admin", "password": "wrong"},
    ),
    ("auth-logout", "POST"): Case("POST", lambda w: "/api/v1/auth/logout/", signed_in(204)),
    ("auth-sms-code", "POST"): Case(
        "POST",
        lambda w: "/api/v1/auth/sms-code/",
        everyone(202),
        lambda w: {"phone": fictional_phone()},
    ),
    ("auth-sms-code-verify", "POST"): Case(
        "POST",
        lambda w: "/api/v1/auth/sms-code/verify/",
        everyone(400),
        lambda w: {"phone": fictional_phone(), "code": "000000"},
    ),
    ("ws-ticket", "POST"): Case("POST", lambda w: "/api/v1/ws-ticket/", signed_in(201)),
    ("me", "GET"): Case("GET", lambda w: "/api/v1/me/", signed_in(200)),
    ("me-channel", "POST"): Case(
        "POST",
        lambda w: "/api/v1/me/channel/",
        {**everyone(403), "service_user": 200},
        lambda w: {"preferred_channel": "web"},
    ),
    # Twilio's webhooks: only a valid X-Twilio-Signature gets in, whoever is signed in.
    ("sms-twilio-inbound", "POST"): Case(
        "POST", lambda w: "/sms/twilio/inbound/", everyone(403), lambda w: {"Body": "hi"}
    ),
    ("sms-twilio-status", "POST"): Case(
        "POST", lambda w: "/sms/twilio/status/", everyone(403), lambda w: {"MessageStatus": "sent"}
    ),
    ("sms-intake-list", "GET"): Case(
        "GET", lambda w: "/api/v1/sms-intake/", supervisors_and_admins(200)
    ),
    ("sms-intake-resolve", "POST"): Case("POST", _intake_resolve_path, supervisors_and_admins(200)),
    ("programme-list", "GET"): Case("GET", lambda w: "/api/v1/programmes/", staff(200)),
    ("programme-detail", "GET"): Case(
        "GET", lambda w: f"/api/v1/programmes/{w.programme.slug}/", staff(200)
    ),
    ("enrolment-list", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/enrolments/",
        {**casework(200, other_peer=200)},
    ),
    ("enrolment-list", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/programmes/{w.programme.slug}/enrolments/",
        {**casework(403, other_peer=403), "admin": 201},
        lambda w: {
            "site": "north",
            "name": "New Person",
            "phone": fictional_phone(),
            "language": "en",
            "time_zone": "America/Edmonton",
        },
    ),
    ("enrolment-detail", "GET"): Case(
        "GET", lambda w: f"/api/v1/enrolments/{w.own.id}/", casework(200)
    ),
    ("enrolment-assignments", "GET"): Case(
        "GET", lambda w: f"/api/v1/enrolments/{w.own.id}/assignments/", casework(200)
    ),
    ("enrolment-assignments", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/enrolments/{w.own.id}/assignments/",
        {**casework(201), "own_peer": 403},
        _handoff_body,
    ),
    ("conversation-list", "GET"): Case("GET", lambda w: "/api/v1/conversations/", signed_in(200)),
    ("conversation-messages", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/conversations/{_conversation_id(w)}/messages/",
        conversation_member(200),
    ),
    ("conversation-read", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/conversations/{_conversation_id(w)}/read/",
        {**conversation_member(200), "supervisor": 403},
        lambda w: {"seq": 0},
    ),
    ("conversation-notes", "GET"): Case(
        "GET", lambda w: f"/api/v1/conversations/{_conversation_id(w)}/notes/", case_notes(200)
    ),
    ("conversation-notes", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/conversations/{_conversation_id(w)}/notes/",
        case_notes(201),
        lambda w: {"body": "Talked about the weekend plan."},
    ),
    ("saved-reply-list", "GET"): Case(
        "GET",
        lambda w: f"/api/v1/saved-replies/?programme={w.programme.slug}",
        {**staff(200), "evaluator": 403},
    ),
    ("saved-reply-list", "POST"): Case(
        "POST",
        lambda w: "/api/v1/saved-replies/",
        {**staff(403), "own_peer": 201, "other_peer": 201},
        lambda w: {"programme": w.programme.slug, "title": "Check in", "body": "How are you?"},
    ),
    ("saved-reply-detail", "DELETE"): Case(
        "DELETE",
        _shared_reply_path,
        {**staff(403), "supervisor": 204, "admin": 204},
    ),
}

# Areas keep their rows in their own files; a row named twice is a mistake.
for _rows in AREA_ROWS:
    assert not set(_rows) & set(MATRIX), f"matrix rows named twice: {set(_rows) & set(MATRIX)}"
    MATRIX.update(_rows)


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            found += _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append((entry.name or "", prefix + str(entry.pattern)))
    return found


def _methods(pattern: URLPattern) -> set[str]:
    view = pattern.callback
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if cls is None:
        return {"GET"}
    return {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)}


def _all_patterns(patterns: list[Any]) -> list[URLPattern]:
    out: list[URLPattern] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace != "admin":
                out += _all_patterns(entry.url_patterns)
        else:
            out.append(entry)
    return out


def test_every_endpoint_has_a_rule() -> None:
    routed = {
        (p.name, method)
        for p in _all_patterns(get_resolver().url_patterns)
        for method in _methods(p)
    }
    assert all(name for name, _ in routed), "every URL pattern needs a name"
    missing = routed - set(MATRIX)
    assert not missing, f"endpoints without a row in the role matrix: {sorted(missing)}"
    stale = set(MATRIX) - routed
    assert not stale, f"matrix rows for endpoints that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1]} {e[0]}")
def test_role_gets_expected_status(world: World, endpoint: tuple[str, str], role: str) -> None:
    case = MATRIX[endpoint]
    client = Client()
    user = user_for(world, role)
    if user is not None:
        client.force_login(user)
    if case.method == "GET":
        response = client.get(case.path(world))
    elif case.method == "DELETE":
        response = client.delete(case.path(world))
    elif case.method == "PUT":
        response = client.put(case.path(world), case.body(world), content_type="application/json")
    elif case.method == "PATCH":
        response = client.patch(case.path(world), case.body(world), content_type="application/json")
    else:
        response = client.post(case.path(world), case.body(world), content_type="application/json")
    assert response.status_code == case.expected[role], response.content[:300]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) >= {"code", "message"}


@pytest.mark.parametrize("role", ROLES)
def test_django_admin_opens_only_for_admins(world: World, role: str) -> None:
    client = Client()
    user = user_for(world, role)
    if user is not None:
        client.force_login(user)
    if role == "admin":
        world.admin.is_staff = True
        world.admin.save(update_fields=["is_staff"])
    response = client.get("/admin/")
    if role == "admin":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
