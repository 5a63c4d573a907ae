"""The programme admin's text schedule in the Django admin: saved through the service (checked,
audited, every enrolment replanned); pending sends and their records are read-only."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from audit.models import AuditEntry
from programmes.models import Programme
from scheduling.models import PendingSend, ProgrammeSchedule, Stream
from tests.scheduling.texts import TEXTS_ONLY, enrol_for_texts, library, utc
from tests.support.factories import make_programme

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client() -> Client:
    user = get_user_model().objects.create_superuser("root", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


def _form(programme: Programme, **overrides: Any) -> dict[str, Any]:
    values = {
        "programme": programme.pk,
        "library": library().pk,
        "active": "on",
        "start_offset_days": 1,
        "duration_days": 180,
        "send_times": '["10:00"]',
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "track_rule": "enrolment",
        "when_exhausted": "wrap",
        "staleness_minutes": 180,
    }
    values.update(overrides)
    return values


def test_a_schedule_saved_in_the_admin_plans_every_enrolment_and_is_audited(
    superuser_client: Client,
) -> None:
    with time_machine.travel(utc("2027-02-02T18:00"), tick=False):
        programme = make_programme(arms=TEXTS_ONLY)
        enrolment = enrol_for_texts(programme)
        assert not PendingSend.objects.exists()
        # Signed in again at the travelled-to time: the fixture's session would have expired.
        superuser_client.force_login(get_user_model().objects.get(username="root"))
        response = superuser_client.post(
            "/admin/scheduling/programmeschedule/add/", _form(programme)
        )
    assert response.status_code == 302
    row = PendingSend.objects.get(enrolment=enrolment, stream=Stream.SUPPORTIVE)
    assert row.due_at == utc("2027-02-03T17:00")
    assert AuditEntry.objects.filter(action="text_schedule.changed").exists()


def test_a_send_time_in_quiet_hours_is_refused_in_the_admin_and_nothing_is_saved(
    superuser_client: Client,
) -> None:
    programme = make_programme(arms=TEXTS_ONLY)
    response = superuser_client.post(
        "/admin/scheduling/programmeschedule/add/", _form(programme, send_times='["22:30"]')
    )
    assert response.status_code == 200
    assert "quiet hours" in response.content.decode()
    assert not ProgrammeSchedule.objects.exists()


@pytest.mark.parametrize("model", ["pendingsend", "sendrecord", "reminder"])
def test_scheduler_records_cannot_be_added_in_the_admin(
    superuser_client: Client, model: str
) -> None:
    assert superuser_client.get(f"/admin/scheduling/{model}/add/").status_code == 403
    assert superuser_client.get(f"/admin/scheduling/{model}/").status_code == 200


def test_library_texts_are_shown_but_not_editable_in_the_admin(superuser_client: Client) -> None:
    approved = library()
    message = approved.messages.first()
    assert message is not None
    page = superuser_client.get(f"/admin/scheduling/librarymessage/{message.pk}/change/")
    assert page.status_code == 200
    assert 'name="text"' not in page.content.decode()
    library_page = superuser_client.get(f"/admin/scheduling/messagelibrary/{approved.pk}/change/")
    assert 'name="messages-0-text"' not in library_page.content.decode()
    refused = superuser_client.post(
        f"/admin/scheduling/librarymessage/{message.pk}/change/", {"text": "Changed."}
    )
    assert refused.status_code == 403
    message.refresh_from_db()
    assert message.text != "Changed."
