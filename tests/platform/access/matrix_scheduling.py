"""Role matrix rows for the scheduled-text endpoints (merged by test_role_endpoint_matrix.py).

A person's texts, reminders and timing preferences are handled by whoever may see the
enrolment: its peer supporter, the team's supervisor and the programme's admins. Other peers
get 404 (as for an enrolment that does not exist); evaluators and service users are refused
by the permission class (403). The service user reads their own texts and sets their own
preferences under me/ (staff get 403 not_a_service_user there)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.factories import World
from tests.support.role_matrix import Case, casework, everyone


def _only_the_service_user(status: int) -> dict[str, int]:
    return {**everyone(403), "service_user": status}


def _with_texts(world: World) -> None:
    """Put `world.own` in the arm with texts and reminders and give the programme a text
    schedule, so that the person has a running supportive stream."""
    from programmes.models import Arm, Enrolment
    from scheduling.services import configure_schedule
    from tests.scheduling.texts import library

    arm = Arm.objects.get(programme=world.programme, code="peer_support_texts")
    Enrolment.objects.filter(pk=world.own.pk).update(arm=arm)
    configure_schedule(programme=world.programme, changed_by=None, library=library())


def _texts_path(action: str) -> Any:
    def path(world: World) -> str:
        _with_texts(world)
        if action == "resume":
            from scheduling.services import pause_texts

            pause_texts(enrolment=world.own, by=world.supervisor)
        return f"/api/v1/enrolments/{world.own.id}/texts/{action}/"

    return path


def _reminders_path(world: World) -> str:
    _with_texts(world)
    return f"/api/v1/enrolments/{world.own.id}/reminders/"


def _tomorrow(world: World) -> dt.date:
    from scheduling.timing import zone

    local = dt.datetime.now(dt.UTC).astimezone(zone(world.own.participant.time_zone))
    return local.date() + dt.timedelta(days=1)


def _reminder_body(world: World) -> dict[str, Any]:
    return {
        "kind": "appointment",
        "text": "Clinic visit at 14:00.",
        "local_time": "12:00",
        "first_date": _tomorrow(world).isoformat(),
    }


def _reminder_path(world: World) -> str:
    from programmes.models import Enrolment
    from scheduling.services import create_reminder

    _with_texts(world)
    reminder = create_reminder(
        enrolment=Enrolment.objects.get(pk=world.own.pk),
        kind="medication",
        body="Evening tablets.",
        local_time=dt.time(12, 0),
        first_date=_tomorrow(world),
        created_by=world.peer,
    )
    return f"/api/v1/reminders/{reminder.pk}/"


ROWS: dict[tuple[str, str], Case] = {
    ("enrolment-texts", "GET"): Case(
        "GET", lambda w: f"/api/v1/enrolments/{w.own.id}/texts/", casework(200)
    ),
    ("enrolment-texts-pause", "POST"): Case("POST", _texts_path("pause"), casework(200)),
    ("enrolment-texts-resume", "POST"): Case("POST", _texts_path("resume"), casework(200)),
    ("enrolment-reminders", "GET"): Case("GET", _reminders_path, casework(200)),
    ("enrolment-reminders", "POST"): Case("POST", _reminders_path, casework(201), _reminder_body),
    ("reminder-detail", "DELETE"): Case("DELETE", _reminder_path, casework(204)),
    ("enrolment-preferences", "PATCH"): Case(
        "PATCH",
        lambda w: f"/api/v1/enrolments/{w.own.id}/preferences/",
        casework(200),
        lambda w: {"quiet_hours_start": "22:00"},
    ),
    ("me-texts", "GET"): Case("GET", lambda w: "/api/v1/me/texts/", _only_the_service_user(200)),
    ("me-preferences", "PATCH"): Case(
        "PATCH",
        lambda w: "/api/v1/me/preferences/",
        _only_the_service_user(200),
        lambda w: {"time_zone": "America/Toronto"},
    ),
}
