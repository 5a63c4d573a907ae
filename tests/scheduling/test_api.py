"""The scheduled-text API (issue 7): a person's texts, reminders, a staff pause and the time
zone and quiet hours the schedule reads. Staff who handle the enrolment (its peer supporter,
the team's supervisor, the programme's admins) use enrolments/{id}/...; the person uses me/.

Time stands still at 12:00 in Edmonton on a winter Tuesday: the person enrolled then, so
their first supportive text is due the next day at 10:00 local (17:00 UTC)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.test import Client

from audit.models import AuditEntry
from people.models import Participant, User
from programmes.models import Enrolment as EnrolmentModel
from programmes.models import EnrolmentStatus, HandoffReason, Role, StaffRole
from programmes.services import (
    ArmSpec,
    add_to_team,
    assign_peer_supporter,
    create_team,
    end_enrolment,
)
from scheduling.dispatch import dispatch_due
from scheduling.models import PendingSend, Reminder, SendState, StopReason, Stream
from scheduling.services import configure_schedule, create_reminder
from tests.scheduling.texts import enrol_for_texts, supportive, text_programme, utc
from tests.support.factories import make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

NOW = utc("2027-01-12T19:00")  # 12:00 in Edmonton (UTC-7)
TOMORROW = dt.date(2027, 1, 13)
FIRST_DUE = "2027-01-13T17:00:00+00:00"
PEER_TEXTS = (ArmSpec("peer_texts", "Peer support and texts", True, True, True),)


@dataclass
class Cast:
    """A texts programme whose one arm has peer support, texts and reminders: admin,
    supervisor and their team's peer, a peer outside the team, an evaluator, and a person on
    the peer's caseload."""

    admin: User
    supervisor: User
    peer: User
    other_peer: User
    evaluator: User
    enrolment: EnrolmentModel

    @property
    def person(self) -> User:
        return self.enrolment.participant.user


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def cast(_frozen: None) -> Cast:
    programme = text_programme(arms=PEER_TEXTS)
    admin = make_staff(programme, Role.ADMIN)
    supervisor = make_staff(programme, Role.SUPERVISOR)
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    other_peer = make_staff(programme, Role.PEER_SUPPORTER)
    evaluator = make_staff(programme, Role.EVALUATOR)
    add_to_team(
        team=create_team(programme=programme, name="Team", supervisor=supervisor),
        peer_supporter=peer,
    )
    enrolment = enrol_for_texts(programme, by=admin)
    assign_peer_supporter(
        enrolment=enrolment, peer_supporter=peer, assigned_by=admin, reason=HandoffReason.INITIAL
    )
    return Cast(admin, supervisor, peer, other_peer, evaluator, enrolment)


def _base(enrolment: EnrolmentModel) -> str:
    return f"/api/v1/enrolments/{enrolment.pk}"


def _post(client: Client, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, body or {}, content_type="application/json")


def _patch(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, body, content_type="application/json")


def _reminder_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "appointment",
        "text": "Clinic visit, room 4, at 14:00.",
        "local_time": "12:00",
        "first_date": TOMORROW.isoformat(),
    }
    body.update(changes)
    return body


def _a_reminder(cast: Cast) -> Reminder:
    return create_reminder(
        enrolment=cast.enrolment,
        kind="medication",
        body="Evening tablets.",
        local_time=dt.time(18, 30),
        first_date=TOMORROW,
        recurrence="daily",
        last_date=TOMORROW + dt.timedelta(days=6),
        created_by=cast.peer,
    )


def _texts(user: User, enrolment: EnrolmentModel) -> dict[str, Any]:
    response = signed_in_client(user).get(f"{_base(enrolment)}/texts/")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


# --- The texts state ---------------------------------------------------------------------------


def test_the_texts_state_gives_the_next_supportive_text_in_utc_and_local_time(cast: Cast) -> None:
    state = _texts(cast.peer, cast.enrolment)
    assert state["supportive"] == {
        "state": "scheduled",
        "stop_reason": "",
        "next_due_at": FIRST_DUE,
        "next_local": "2027-01-13T10:00:00-07:00",
        "seq": 1,
        "sent_count": 0,
    }
    assert state["preferences"] == {
        "time_zone": "America/Edmonton",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
    }
    assert (state["enrolment"], state["reminders"], state["sends"]) == (
        str(cast.enrolment.pk),
        [],
        [],
    )


def test_the_texts_state_lists_reminders_without_their_text(cast: Cast) -> None:
    reminder = _a_reminder(cast)
    [listed] = _texts(cast.peer, cast.enrolment)["reminders"]
    assert listed["id"] == reminder.pk
    assert listed["next_local"] == "2027-01-13T18:30:00-07:00"
    assert "text" not in listed


def test_send_records_show_the_outcome_and_never_the_text(cast: Cast) -> None:
    dispatch_due(now=utc("2027-01-13T17:00"))
    state = _texts(cast.supervisor, cast.enrolment)
    assert state["sends"] == [
        {
            "stream": "supportive",
            "reminder": None,
            "seq": 1,
            "due_at": FIRST_DUE,
            "outcome": "sent",
            "handled_at": FIRST_DUE,
        }
    ]
    assert (state["supportive"]["seq"], state["supportive"]["sent_count"]) == (2, 1)
    assert state["supportive"]["next_local"] == "2027-01-14T10:00:00-07:00"


def test_a_person_in_a_programme_without_a_text_schedule_has_no_supportive_stream(
    cast: Cast,
) -> None:
    programme = make_programme("no-schedule", arms=PEER_TEXTS)
    admin = make_staff(programme, Role.ADMIN)
    enrolment = enrol_for_texts(programme, by=admin)
    assert _texts(admin, enrolment)["supportive"] is None


# --- Reminders ---------------------------------------------------------------------------------


def test_a_created_reminder_is_listed_with_its_text(cast: Cast) -> None:
    client = signed_in_client(cast.peer)
    created = _post(client, f"{_base(cast.enrolment)}/reminders/", _reminder_body())
    assert created.status_code == 201
    listed = client.get(f"{_base(cast.enrolment)}/reminders/").json()
    assert [(r["id"], r["text"], r["kind"]) for r in listed] == [
        (created.json()["id"], "Clinic visit, room 4, at 14:00.", "appointment")
    ]
    assert listed[0]["state"] == "scheduled"
    assert listed[0]["next_due_at"] == "2027-01-13T19:00:00+00:00"
    assert listed[0]["last_date"] == TOMORROW.isoformat()


def test_a_programme_admin_lists_reminders_without_their_text(cast: Cast) -> None:
    _a_reminder(cast)
    listed = signed_in_client(cast.admin).get(f"{_base(cast.enrolment)}/reminders/").json()
    assert len(listed) == 1
    assert "text" not in listed[0]
    supervised = signed_in_client(cast.supervisor).get(f"{_base(cast.enrolment)}/reminders/")
    assert supervised.json()[0]["text"] == "Evening tablets."


def test_a_recurring_reminder_keeps_its_last_date(cast: Cast) -> None:
    created = _post(
        signed_in_client(cast.supervisor),
        f"{_base(cast.enrolment)}/reminders/",
        _reminder_body(recurrence="weekly", last_date="2027-03-01"),
    )
    assert created.status_code == 201
    assert (created.json()["recurrence"], created.json()["last_date"]) == ("weekly", "2027-03-01")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"kind": "dentist"}, "invalid_reminder"),
        ({"recurrence": "monthly"}, "invalid_reminder"),
        ({"text": "   "}, "invalid_reminder_text"),
        ({"text": "x" * 321}, "invalid_reminder_text"),
        ({"local_time": "22:30"}, "reminder_in_quiet_hours"),
        ({"first_date": "2027-01-11"}, "invalid_reminder_date"),
        ({"recurrence": "daily"}, "invalid_reminder_date"),
        ({"recurrence": "daily", "last_date": "2027-01-12"}, "invalid_reminder_date"),
        ({"recurrence": "weekly", "last_date": "2028-06-01"}, "invalid_reminder_date"),
        ({"local_time": "noon"}, "invalid"),
        ({"local_time": "12:00:30"}, "invalid"),
        ({"first_date": "tomorrow"}, "invalid"),
    ],
)
def test_a_bad_reminder_is_refused_with_the_services_code_and_nothing_written(
    cast: Cast, changes: dict[str, Any], code: str
) -> None:
    before = AuditEntry.objects.count()
    response = _post(
        signed_in_client(cast.peer),
        f"{_base(cast.enrolment)}/reminders/",
        _reminder_body(**changes),
    )
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert not Reminder.objects.exists()
    assert not PendingSend.objects.filter(stream=Stream.REMINDER).exists()
    assert AuditEntry.objects.count() == before


def test_a_reminder_for_an_arm_without_reminders_is_refused(cast: Cast) -> None:
    programme = make_programme(
        "no-reminders", arms=(ArmSpec("peer", "Peer support", True, True, False),)
    )
    admin = make_staff(programme, Role.ADMIN)
    enrolment = enrol_for_texts(programme, by=admin)
    response = _post(signed_in_client(admin), f"{_base(enrolment)}/reminders/", _reminder_body())
    assert (response.status_code, response.json()["code"]) == (400, "not_in_arm")
    assert not Reminder.objects.exists()


def test_a_reminder_for_an_ended_enrolment_answers_409(cast: Cast) -> None:
    end_enrolment(enrolment=cast.enrolment, status=EnrolmentStatus.COMPLETED, ended_by=cast.admin)
    response = _post(
        signed_in_client(cast.admin), f"{_base(cast.enrolment)}/reminders/", _reminder_body()
    )
    assert (response.status_code, response.json()["code"]) == (409, "enrolment_ended")
    assert not Reminder.objects.exists()


def test_listing_reminders_is_audited(cast: Cast) -> None:
    _a_reminder(cast)
    signed_in_client(cast.peer).get(f"{_base(cast.enrolment)}/reminders/")
    entry = AuditEntry.objects.get(action="reminders.read")
    assert (entry.actor_id, entry.target_id, entry.details) == (
        cast.peer.id,
        str(cast.enrolment.pk),
        {"count": 1},
    )


def test_cancelling_a_reminder_stops_it_and_drops_it_from_the_list(cast: Cast) -> None:
    reminder = _a_reminder(cast)
    client = signed_in_client(cast.peer)
    assert client.delete(f"/api/v1/reminders/{reminder.pk}/").status_code == 204
    assert client.get(f"{_base(cast.enrolment)}/reminders/").json() == []
    [cancelled] = client.get(f"{_base(cast.enrolment)}/reminders/?all=1").json()
    assert (cancelled["state"], cancelled["stop_reason"]) == ("stopped", StopReason.CANCELLED)
    assert cancelled["cancelled_at"] is not None


def test_cancelling_a_reminder_twice_is_no_error(cast: Cast) -> None:
    reminder = _a_reminder(cast)
    client = signed_in_client(cast.supervisor)
    assert client.delete(f"/api/v1/reminders/{reminder.pk}/").status_code == 204
    assert client.delete(f"/api/v1/reminders/{reminder.pk}/").status_code == 204
    assert AuditEntry.objects.filter(action="reminder.cancelled").count() == 1


def test_an_unknown_reminder_answers_404(cast: Cast) -> None:
    client = signed_in_client(cast.admin)
    assert client.delete("/api/v1/reminders/999999/").status_code == 404
    assert client.delete(f"/api/v1/reminders/{2**63}/").status_code == 404


# --- Pause and resume --------------------------------------------------------------------------


def test_pausing_then_resuming_changes_the_state(cast: Cast) -> None:
    client = signed_in_client(cast.peer)
    paused = _post(client, f"{_base(cast.enrolment)}/texts/pause/")
    assert paused.status_code == 200
    assert (paused.json()["state"], paused.json()["next_due_at"]) == ("paused", None)
    assert _texts(cast.peer, cast.enrolment)["supportive"]["state"] == "paused"
    resumed = _post(client, f"{_base(cast.enrolment)}/texts/resume/")
    assert resumed.status_code == 200
    assert (resumed.json()["state"], resumed.json()["next_due_at"]) == ("scheduled", FIRST_DUE)


def test_pausing_twice_is_one_pause(cast: Cast) -> None:
    client = signed_in_client(cast.supervisor)
    for _ in range(2):
        response = _post(client, f"{_base(cast.enrolment)}/texts/pause/")
        assert (response.status_code, response.json()["state"]) == (200, "paused")
    assert AuditEntry.objects.filter(action="texts.paused").count() == 1


def test_resuming_running_texts_changes_nothing(cast: Cast) -> None:
    response = _post(signed_in_client(cast.admin), f"{_base(cast.enrolment)}/texts/resume/")
    assert (response.status_code, response.json()["next_due_at"]) == (200, FIRST_DUE)
    assert not AuditEntry.objects.filter(action="texts.resumed").exists()


@pytest.mark.parametrize(
    ("action", "code"), [("pause", "texts_not_running"), ("resume", "texts_not_paused")]
)
def test_stopped_texts_answer_409(cast: Cast, action: str, code: str) -> None:
    configure_schedule(programme=cast.enrolment.programme, changed_by=None, active=False)
    response = _post(signed_in_client(cast.peer), f"{_base(cast.enrolment)}/texts/{action}/")
    assert (response.status_code, response.json()["code"]) == (409, code)
    assert supportive(cast.enrolment).state == SendState.STOPPED


def test_pausing_without_a_supportive_stream_answers_404(cast: Cast) -> None:
    PendingSend.objects.filter(enrolment=cast.enrolment).delete()
    response = _post(signed_in_client(cast.peer), f"{_base(cast.enrolment)}/texts/pause/")
    assert (response.status_code, response.json()["code"]) == (404, "no_texts")


# --- Preferences -------------------------------------------------------------------------------


def test_a_new_time_zone_replans_the_next_text(cast: Cast) -> None:
    response = _patch(
        signed_in_client(cast.peer),
        f"{_base(cast.enrolment)}/preferences/",
        {"time_zone": "Europe/Paris"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "time_zone": "Europe/Paris",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
    }
    upcoming = _texts(cast.peer, cast.enrolment)["supportive"]
    assert (upcoming["next_due_at"], upcoming["next_local"]) == (
        "2027-01-13T09:00:00+00:00",
        "2027-01-13T10:00:00+01:00",
    )


def test_longer_quiet_hours_move_the_next_text_to_their_end(cast: Cast) -> None:
    response = _patch(
        signed_in_client(cast.supervisor),
        f"{_base(cast.enrolment)}/preferences/",
        {"quiet_hours_start": "22:00", "quiet_hours_end": "11:00"},
    )
    assert response.json()["quiet_hours_end"] == "11:00"
    assert supportive(cast.enrolment).due_at == utc("2027-01-13T18:00")


def test_an_unknown_time_zone_is_refused_and_nothing_changes(cast: Cast) -> None:
    response = _patch(
        signed_in_client(cast.peer),
        f"{_base(cast.enrolment)}/preferences/",
        {"time_zone": "Mars/Olympus_Mons", "quiet_hours_start": "22:00"},
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_time_zone")
    participant = Participant.objects.get(pk=cast.enrolment.participant_id)
    assert (participant.time_zone, participant.quiet_hours_start) == (
        "America/Edmonton",
        dt.time(21, 0),
    )
    assert supportive(cast.enrolment).due_at == utc("2027-01-13T17:00")


def test_a_quiet_hour_not_in_hh_mm_is_refused(cast: Cast) -> None:
    response = _patch(
        signed_in_client(cast.peer),
        f"{_base(cast.enrolment)}/preferences/",
        {"quiet_hours_end": "25:00"},
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    participant = Participant.objects.get(pk=cast.enrolment.participant_id)
    assert participant.quiet_hours_end == dt.time(8, 0)


# --- The person's own --------------------------------------------------------------------------


def test_a_service_user_reads_their_own_texts(cast: Cast) -> None:
    response = signed_in_client(cast.person).get("/api/v1/me/texts/")
    assert response.status_code == 200
    assert response.json()["enrolment"] == str(cast.enrolment.pk)
    assert response.json()["supportive"]["next_due_at"] == FIRST_DUE


def test_a_service_user_names_one_of_their_enrolments_or_gets_404(cast: Cast) -> None:
    client = signed_in_client(cast.person)
    named = client.get(f"/api/v1/me/texts/?enrolment={cast.enrolment.pk}")
    assert named.json()["enrolment"] == str(cast.enrolment.pk)
    other = enrol_for_texts(cast.enrolment.programme, by=cast.admin)
    assert client.get(f"/api/v1/me/texts/?enrolment={other.pk}").status_code == 404


def test_a_service_user_sets_their_own_quiet_hours(cast: Cast) -> None:
    response = _patch(
        signed_in_client(cast.person), "/api/v1/me/preferences/", {"quiet_hours_start": "20:00"}
    )
    assert (response.status_code, response.json()["quiet_hours_start"]) == (200, "20:00")
    entry = AuditEntry.objects.get(action="participant.timing_changed")
    assert (entry.actor_id, entry.details) == (cast.person.id, {"fields": ["quiet_hours_start"]})


def test_a_service_user_with_no_ongoing_enrolment_has_no_texts(cast: Cast) -> None:
    end_enrolment(enrolment=cast.enrolment, status=EnrolmentStatus.WITHDRAWN, ended_by=cast.admin)
    response = signed_in_client(cast.person).get("/api/v1/me/texts/")
    assert (response.status_code, response.json()["code"]) == (404, "no_enrolment")


@pytest.mark.parametrize("who", ["peer", "supervisor", "admin", "evaluator"])
def test_staff_have_no_texts_of_their_own(cast: Cast, who: str) -> None:
    client = signed_in_client(getattr(cast, who))
    assert client.get("/api/v1/me/texts/").json()["code"] == "not_a_service_user"
    response = _patch(client, "/api/v1/me/preferences/", {"quiet_hours_start": "20:00"})
    assert (response.status_code, response.json()["code"]) == (403, "not_a_service_user")


# --- Who may --------------------------------------------------------------------------------------


def _staff_requests(cast: Cast, client: Client) -> list[Any]:
    base = _base(cast.enrolment)
    reminder = Reminder.objects.get(enrolment=cast.enrolment)
    return [
        client.get(f"{base}/texts/"),
        _post(client, f"{base}/texts/pause/"),
        _post(client, f"{base}/texts/resume/"),
        client.get(f"{base}/reminders/"),
        _post(client, f"{base}/reminders/", _reminder_body()),
        client.delete(f"/api/v1/reminders/{reminder.pk}/"),
        _patch(client, f"{base}/preferences/", {"time_zone": "Europe/Paris"}),
    ]


def _nothing_changed(cast: Cast) -> None:
    assert Reminder.objects.filter(enrolment=cast.enrolment, cancelled_at__isnull=True).count() == 1
    assert supportive(cast.enrolment).state == SendState.SCHEDULED
    assert Participant.objects.get(pk=cast.enrolment.participant_id).time_zone == (
        "America/Edmonton"
    )


def test_a_peer_off_the_caseload_gets_404_and_changes_nothing(cast: Cast) -> None:
    _a_reminder(cast)
    responses = _staff_requests(cast, signed_in_client(cast.other_peer))
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(404, "not_found")] * 7
    _nothing_changed(cast)


def test_a_peer_loses_the_texts_after_a_handoff(cast: Cast) -> None:
    assign_peer_supporter(
        enrolment=cast.enrolment,
        peer_supporter=cast.other_peer,
        assigned_by=cast.supervisor,
        reason=HandoffReason.LEAVE,
    )
    assert signed_in_client(cast.peer).get(f"{_base(cast.enrolment)}/texts/").status_code == 404
    assert (
        signed_in_client(cast.other_peer).get(f"{_base(cast.enrolment)}/texts/").status_code == 200
    )


@pytest.mark.parametrize("who", ["evaluator", "person", "other_person"])
def test_evaluators_and_service_users_are_refused_and_change_nothing(cast: Cast, who: str) -> None:
    _a_reminder(cast)
    if who == "other_person":
        user = enrol_for_texts(cast.enrolment.programme, by=cast.admin).participant.user
    else:
        user = getattr(cast, who)
    responses = _staff_requests(cast, signed_in_client(user))
    assert [r.status_code for r in responses] == [403] * 7
    _nothing_changed(cast)


def test_another_service_user_reads_only_their_own_texts(cast: Cast) -> None:
    other = enrol_for_texts(cast.enrolment.programme, by=cast.admin)
    response = signed_in_client(other.participant.user).get("/api/v1/me/texts/")
    assert response.json()["enrolment"] == str(other.pk)


def test_an_unknown_enrolment_answers_like_a_hidden_one(cast: Cast) -> None:
    client = signed_in_client(cast.other_peer)
    hidden = client.get(f"{_base(cast.enrolment)}/texts/")
    unknown = client.get("/api/v1/enrolments/00000000-0000-4000-8000-000000000000/texts/")
    assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json())


def test_a_service_user_holding_a_staff_role_never_handles_their_own_texts(cast: Cast) -> None:
    # The services refuse staff roles to service users; the rule holds even if such a row
    # exists (written around the services).
    StaffRole.objects.create(
        user=cast.person, programme=cast.enrolment.programme, role=Role.SUPERVISOR
    )
    client = signed_in_client(cast.person)
    assert client.get(f"{_base(cast.enrolment)}/texts/").status_code == 404
    assert _post(client, f"{_base(cast.enrolment)}/texts/pause/").status_code == 404
