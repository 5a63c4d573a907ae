"""Role matrix rows for /api/v1/risk-alerts/ (merged by test_role_endpoint_matrix.py).

An alert about `world.own` is seen by its peer supporter and by every supervisor of the
programme; programme admins and other peers get 404 (as for an alert that does not exist);
evaluators and service users are refused by the permission class (403). Closing an alert is
a supervisor's decision: the peer supporter may acknowledge and add notes, not resolve.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.factories import World
from tests.support.role_matrix import Case, casework


def alert_handlers(own: int) -> dict[str, int]:
    """An alert about `world.own`: its peer supporter and the programme's supervisors."""
    return {**casework(own), "admin": 404}


def _participant_message_id(world: World, client_id: str) -> uuid.UUID:
    from messaging.models import Conversation
    from messaging.services import post_message

    conversation = Conversation.objects.get(enrolment=world.own)
    posted = post_message(
        conversation_id=conversation.pk,
        sender=world.own.participant.user,
        sender_role="participant",
        channel="web",
        body="Had a rough week.",
        client_id=client_id,
    )
    return posted.message.id


def _alert_id(world: World) -> str:
    """Open an alert about `world.own`: its peer supporter flags one of the person's messages."""
    from messaging.risk.services import flag_message

    message_id = _participant_message_id(world, "matrix-risk")
    return str(flag_message(message_id=message_id, by=world.peer).pk)


def _flag_body(world: World) -> dict[str, Any]:
    return {"message": str(_participant_message_id(world, "matrix-flag")), "category": "self_harm"}


ROWS: dict[tuple[str, str], Case] = {
    # Everyone who works casework lists (what they may see; admins and other peers: nothing).
    ("risk-alert-list", "GET"): Case(
        "GET",
        lambda w: "/api/v1/risk-alerts/",
        {**casework(200, other_peer=200), "admin": 200},
    ),
    # Flagging needs a message of a conversation the caller may read.
    ("risk-alert-list", "POST"): Case(
        "POST", lambda w: "/api/v1/risk-alerts/", alert_handlers(201), _flag_body
    ),
    ("risk-alert-detail", "GET"): Case(
        "GET", lambda w: f"/api/v1/risk-alerts/{_alert_id(w)}/", alert_handlers(200)
    ),
    ("risk-alert-acknowledge", "POST"): Case(
        "POST", lambda w: f"/api/v1/risk-alerts/{_alert_id(w)}/acknowledge/", alert_handlers(200)
    ),
    ("risk-alert-resolve", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/risk-alerts/{_alert_id(w)}/resolve/",
        {**alert_handlers(200), "own_peer": 403},
        lambda w: {"resolution": "safe"},
    ),
    ("risk-alert-notes", "POST"): Case(
        "POST",
        lambda w: f"/api/v1/risk-alerts/{_alert_id(w)}/notes/",
        alert_handlers(201),
        lambda w: {"body": "Called back; talked it through."},
    ),
}
