"""Run with the live server's settings and environment, against its database.

    python tests/e2e/e2e_world.py world NAME N  -> JSON: a new conversation and its members
    python tests/e2e/e2e_world.py sms-world NAME N -> the same, the person on SMS (with their
                                                       fictional number, for the webhooks)
    python tests/e2e/e2e_world.py safety-world NAME N MINUTES -> the SMS world with an on-call
                                                       supervisor (with a phone) and escalation
                                                       after MINUTES
    python tests/e2e/e2e_world.py web-safety-world NAME N MINUTES -> the same, the person on
                                                       web chat and the peer on the
                                                       supervisor's team (tests/browser)
    python tests/e2e/e2e_world.py another-person NAME N -> one more web service user on the
                                                       caseload of world NAME's peer supporter
    python tests/e2e/e2e_world.py sessions ID... -> JSON: a signed-in session key per user id
    python tests/e2e/e2e_world.py tickets ID... -> JSON: a fresh WebSocket ticket per user id

A separate process (not the test process's ORM), so that pytest-django's own database set-up is
left alone and the server reads exactly what this wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from access.services import issue_ws_ticket  # noqa: E402
from messaging.models import Conversation  # noqa: E402
from people.models import Channel, User  # noqa: E402
from programmes import services  # noqa: E402
from programmes.models import HandoffReason, Programme, Role  # noqa: E402
from staffing.services import add_on_call_shift, set_staff_phone  # noqa: E402
from tests.support.factories import enrol, make_programme, make_staff  # noqa: E402

PEER_SUPPORT_ONLY = (services.ArmSpec("peer_support", "Peer support", True, False, False),)


def world(name: str, number: int, channel: str = Channel.WEB) -> dict[str, object]:
    """A programme of its own (every arm with peer support, so that the first enrolment has a
    conversation) with one peer supporter and one service user (web, or SMS with consent)."""
    programme = make_programme(name, arms=PEER_SUPPORT_ONLY)
    admin = make_staff(programme, Role.ADMIN, f"{name}-admin")
    peer = make_staff(programme, Role.PEER_SUPPORTER, f"{name}-peer")
    phone = f"+120455501{number:02d}"  # fictional; not an area code the factories use
    enrolment = enrol(
        programme,
        by=admin,
        name="Web Chat Person" if channel == Channel.WEB else "Text Message Person",
        channel=channel,
        phone=phone,
    )
    services.assign_peer_supporter(
        enrolment=enrolment, peer_supporter=peer, assigned_by=admin, reason=HandoffReason.INITIAL
    )
    conversation = Conversation.objects.get(enrolment=enrolment)
    return {
        "conversation": str(conversation.pk),
        "peer": peer.pk,
        "participant": enrolment.participant.user_id,
        "phone": phone,
    }


def another_person(name: str, number: int) -> dict[str, object]:
    """One more service user on web chat on the caseload of world NAME's peer supporter."""
    programme = Programme.objects.get(slug=name)
    peer = User.objects.get(username=f"{name}-peer")
    phone = f"+120455503{number:02d}"  # fictional
    enrolment = enrol(
        programme,
        by=User.objects.get(username=f"{name}-admin"),
        name="Second Person",
        channel=Channel.WEB,
        phone=phone,
    )
    services.assign_peer_supporter(
        enrolment=enrolment,
        peer_supporter=peer,
        assigned_by=peer,
        reason=HandoffReason.INITIAL,
    )
    conversation = Conversation.objects.get(enrolment=enrolment)
    return {
        "conversation": str(conversation.pk),
        "participant": enrolment.participant.user_id,
        "phone": phone,
    }


def safety_world(
    name: str,
    number: int,
    escalate_after_minutes: int,
    channel: str = Channel.SMS,
    *,
    team: bool = False,
) -> dict[str, object]:
    """A world (SMS unless told) with a supervisor on call (level 1, for the next two hours)
    who has an escalation phone, and the programme's escalation after
    `escalate_after_minutes`; with `team`, the peer supporter is on the supervisor's team (so
    the supervisor sees the caseload's names)."""
    created = world(name, number, channel)
    programme = Programme.objects.get(slug=name)
    programme.alert_escalation_minutes = [escalate_after_minutes]
    programme.save(update_fields=["alert_escalation_minutes"])
    supervisor = make_staff(programme, Role.SUPERVISOR, f"{name}-supervisor")
    if team:
        supervised = services.create_team(programme=programme, name="Team", supervisor=supervisor)
        peer = User.objects.get(pk=created["peer"])
        services.add_to_team(team=supervised, peer_supporter=peer)
    now = timezone.now()
    add_on_call_shift(
        programme=programme,
        supervisor=supervisor,
        starts_at=now - dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(hours=2),
        created_by=None,
    )
    supervisor_phone = f"+120455502{number:02d}"  # fictional
    set_staff_phone(user=supervisor, phone=supervisor_phone, changed_by=None)
    return {**created, "supervisor": supervisor.pk, "supervisor_phone": supervisor_phone}


def sessions(user_ids: list[int]) -> dict[str, str]:
    """A signed-in session per user, as Django's test client's force_login makes one: for
    browser tests that are not about signing in (sign-in codes are rate limited per address,
    and every test's browser comes from 127.0.0.1)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    engine = import_module(settings.SESSION_ENGINE)
    keys = {}
    for pk in user_ids:
        user = User.objects.get(pk=pk)
        session = engine.SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        keys[str(pk)] = session.session_key
    return keys


def tickets(user_ids: list[int]) -> dict[str, str]:
    return {str(pk): issue_ws_ticket(user=User.objects.get(pk=pk)) for pk in user_ids}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "world":
        print(json.dumps(world(args[0], int(args[1]))))
    elif command == "sms-world":
        print(json.dumps(world(args[0], int(args[1]), Channel.SMS)))
    elif command == "safety-world":
        print(json.dumps(safety_world(args[0], int(args[1]), int(args[2]))))
    elif command == "web-safety-world":
        world_json = safety_world(args[0], int(args[1]), int(args[2]), Channel.WEB, team=True)
        print(json.dumps(world_json))
    elif command == "another-person":
        print(json.dumps(another_person(args[0], int(args[1]))))
    elif command == "sessions":
        print(json.dumps(sessions([int(a) for a in args])))
    else:
        print(json.dumps(tickets([int(a) for a in args])))
