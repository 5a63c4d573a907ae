"""The availability API: own working hours, own leave (and a supervisor's for their team),
and the programme's on-call rota. Bad input gets its code and writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client

from audit.models import AuditEntry
from people.models import User
from programmes.models import PeerSupporterProfile, Programme, Role
from programmes.services import add_to_team, create_team
from staffing.models import Leave, OnCallShift
from staffing.services import add_on_call_shift, record_leave, set_staff_phone
from tests.platform.staffing.helpers import WEEKDAYS, hours, utc, with_hours
from tests.support.factories import fictional_phone, make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

NOW = utc("2026-06-08T15:00")  # a Monday
LEAVE_URL = "/api/v1/me/leave/"


@pytest.fixture(autouse=True)
def _frozen_clock() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def team_supervisor(programme: Programme, peer: User, supervisor: User) -> User:
    add_to_team(
        team=create_team(programme=programme, name="Team", supervisor=supervisor),
        peer_supporter=peer,
    )
    return supervisor


def _put(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.put(url, body, content_type="application/json")


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type="application/json")


def _writes() -> tuple[int, int, int]:
    return Leave.objects.count(), OnCallShift.objects.count(), AuditEntry.objects.count()


# Working hours


def test_a_peer_supporter_reads_their_hours_and_next_time_on_duty(peer: User) -> None:
    with_hours(peer, hours(WEEKDAYS, "18:00", "22:00"), "UTC")
    body = signed_in_client(peer).get("/api/v1/me/availability/").json()
    assert body == {
        "time_zone": "UTC",
        "working_hours": hours(WEEKDAYS, "18:00", "22:00"),
        "capacity": 15,
        "next_on_duty": "2026-06-08T18:00:00+00:00",
    }


def test_a_peer_supporter_replaces_their_hours_and_zone(peer: User) -> None:
    response = _put(
        signed_in_client(peer),
        "/api/v1/me/availability/",
        {"time_zone": "America/Edmonton", "working_hours": {"mon": ["09:00", "17:00"]}},
    )
    assert response.status_code == 200
    # 09:00 in Edmonton is 15:00 UTC: on duty now.
    assert response.json()["next_on_duty"] == NOW.isoformat()
    profile = PeerSupporterProfile.objects.get(user=peer)
    assert (profile.time_zone, profile.working_hours) == (
        "America/Edmonton",
        {"mon": ["09:00", "17:00"]},
    )


def test_a_supervisor_without_hours_has_none_until_they_set_them(supervisor: User) -> None:
    client = signed_in_client(supervisor)
    body = client.get("/api/v1/me/availability/").json()
    assert body == {"time_zone": "UTC", "working_hours": {}, "capacity": None, "next_on_duty": None}
    assert not PeerSupporterProfile.objects.filter(user=supervisor).exists()
    response = _put(
        client,
        "/api/v1/me/availability/",
        {"time_zone": "UTC", "working_hours": {"tue": ["08:00", "16:00"]}},
    )
    assert response.status_code == 200
    assert response.json()["next_on_duty"] == "2026-06-09T08:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"time_zone": "UTC", "working_hours": {"mon": ["17:00"]}}, "invalid_working_hours"),
        ({"time_zone": "Nowhere/City", "working_hours": {}}, "invalid_time_zone"),
        ({"working_hours": {}}, "invalid"),
        ({"time_zone": "UTC"}, "invalid"),
    ],
    ids=["bad-hours", "bad-zone", "no-zone", "no-hours"],
)
def test_bad_availability_is_refused_with_its_code(
    peer: User, body: dict[str, Any], code: str
) -> None:
    profile = PeerSupporterProfile.objects.get(user=peer)
    before = (profile.working_hours, profile.time_zone, _writes())
    response = _put(signed_in_client(peer), "/api/v1/me/availability/", body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    profile.refresh_from_db()
    assert (profile.working_hours, profile.time_zone, _writes()) == before


def test_admins_and_evaluators_have_no_availability(programme: Programme) -> None:
    for role in (Role.ADMIN, Role.EVALUATOR):
        response = signed_in_client(make_staff(programme, role)).get("/api/v1/me/availability/")
        assert response.status_code == 403


# Leave


def test_a_peer_supporter_records_and_lists_their_leave(peer: User) -> None:
    client = signed_in_client(peer)
    response = _post(
        client, LEAVE_URL, {"starts_at": "2026-06-10T00:00:00Z", "ends_at": "2026-06-12T00:00Z"}
    )
    assert response.status_code == 201
    leave = Leave.objects.get()
    assert (leave.user, leave.recorded_by) == (peer, peer)
    assert client.get(LEAVE_URL).json() == [
        {
            "id": leave.id,
            "user": peer.id,
            "starts_at": "2026-06-10T00:00:00+00:00",
            "ends_at": "2026-06-12T00:00:00+00:00",
            "recorded_by": peer.id,
        }
    ]


def test_a_local_offset_is_kept_as_the_same_instant(peer: User) -> None:
    _post(
        signed_in_client(peer),
        LEAVE_URL,
        {"starts_at": "2026-06-10T09:00-06:00", "ends_at": "2026-06-10T17:00-06:00"},
    )
    leave = Leave.objects.get()
    assert (leave.starts_at, leave.ends_at) == (utc("2026-06-10T15:00"), utc("2026-06-10T23:00"))


def test_leave_that_is_over_is_not_listed(peer: User) -> None:
    record_leave(
        user=peer,
        starts_at=NOW - dt.timedelta(days=3),
        ends_at=NOW - dt.timedelta(days=1),
        recorded_by=None,
    )
    assert signed_in_client(peer).get(LEAVE_URL).json() == []


def test_a_supervisor_records_leave_for_a_peer_supporter_of_their_team(
    peer: User, team_supervisor: User
) -> None:
    client = signed_in_client(team_supervisor)
    response = _post(
        client,
        LEAVE_URL,
        {"user": peer.id, "starts_at": "2026-06-10T00:00Z", "ends_at": "2026-06-11T00:00Z"},
    )
    assert response.status_code == 201
    leave = Leave.objects.get()
    assert (leave.user, leave.recorded_by) == (peer, team_supervisor)
    assert [row["id"] for row in client.get(f"{LEAVE_URL}?user={peer.id}").json()] == [leave.id]
    assert client.get(LEAVE_URL).json() == []  # their own


@pytest.mark.parametrize("who", ["outside-team", "unknown", "peer-for-peer"])
def test_leave_for_someone_not_in_your_team_is_unknown_user(
    programme: Programme, peer: User, team_supervisor: User, who: str
) -> None:
    outsider = make_staff(programme, Role.PEER_SUPPORTER)
    actor, target = {
        "outside-team": (team_supervisor, outsider.id),
        "unknown": (team_supervisor, 999_999),
        "peer-for-peer": (peer, outsider.id),
    }[who]
    before = _writes()
    response = _post(
        signed_in_client(actor),
        LEAVE_URL,
        {"user": target, "starts_at": "2026-06-10T00:00Z", "ends_at": "2026-06-11T00:00Z"},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_user"
    assert _writes() == before


def test_listing_leave_of_someone_not_in_your_team_is_unknown_user(
    programme: Programme, team_supervisor: User
) -> None:
    outsider = make_staff(programme, Role.PEER_SUPPORTER)
    client = signed_in_client(team_supervisor)
    for query in (f"?user={outsider.id}", "?user=abc"):
        response = client.get(LEAVE_URL + query)
        assert response.status_code == 404
        assert response.json()["code"] == "unknown_user"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"starts_at": "2026-06-10T00:00", "ends_at": "2026-06-11T00:00"}, "time_without_offset"),
        ({"starts_at": "2026-06-11T00:00Z", "ends_at": "2026-06-10T00:00Z"}, "invalid_period"),
        ({"starts_at": "2026-06-10T00:00Z", "ends_at": "2026-06-10T00:00Z"}, "invalid_period"),
        ({"starts_at": "2026-06-10T00:00Z", "ends_at": "2028-06-10T00:00Z"}, "invalid_period"),
        ({"starts_at": "next tuesday", "ends_at": "2026-06-10T00:00Z"}, "invalid"),
        ({"ends_at": "2026-06-10T00:00Z"}, "invalid"),
        ({"starts_at": "2026-06-10T00:00Z", "ends_at": "2026-06-11T00:00Z", "user": 0}, "invalid"),
    ],
    ids=["no-offset", "end-before-start", "empty", "two-years", "not-a-time", "no-start", "user-0"],
)
def test_bad_leave_is_refused_with_its_code(peer: User, body: dict[str, Any], code: str) -> None:
    before = _writes()
    response = _post(signed_in_client(peer), LEAVE_URL, body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert _writes() == before


def test_a_peer_supporter_cancels_their_leave(peer: User) -> None:
    leave = record_leave(
        user=peer,
        starts_at=NOW + dt.timedelta(days=1),
        ends_at=NOW + dt.timedelta(days=2),
        recorded_by=peer,
    )
    response = signed_in_client(peer).delete(f"{LEAVE_URL}{leave.id}/")
    assert response.status_code == 204
    assert not Leave.objects.exists()


def test_leave_of_someone_else_cannot_be_cancelled(programme: Programme, peer: User) -> None:
    other = make_staff(programme, Role.PEER_SUPPORTER)
    leave = record_leave(
        user=other,
        starts_at=NOW + dt.timedelta(days=1),
        ends_at=NOW + dt.timedelta(days=2),
        recorded_by=other,
    )
    response = signed_in_client(peer).delete(f"{LEAVE_URL}{leave.id}/")
    assert response.status_code == 404
    assert Leave.objects.filter(pk=leave.pk).exists()


def test_ended_leave_cancelled_through_the_api_is_a_conflict(peer: User) -> None:
    leave = record_leave(
        user=peer,
        starts_at=NOW - dt.timedelta(days=2),
        ends_at=NOW - dt.timedelta(days=1),
        recorded_by=peer,
    )
    response = signed_in_client(peer).delete(f"{LEAVE_URL}{leave.id}/")
    assert response.status_code == 409
    assert response.json()["code"] == "leave_ended"
    assert Leave.objects.filter(pk=leave.pk).exists()


# The on-call rota


def _rota_url(programme: Programme) -> str:
    return f"/api/v1/programmes/{programme.slug}/on-call/"


def _shift_body(on_call: User, **overrides: Any) -> dict[str, Any]:
    return {
        "supervisor": on_call.id,
        "starts_at": "2026-06-08T18:00Z",
        "ends_at": "2026-06-09T08:00Z",
        "level": 1,
        **overrides,
    }


def test_an_admin_adds_a_shift_and_supervisors_read_the_rota(
    programme: Programme, supervisor: User
) -> None:
    admin = make_staff(programme, Role.ADMIN)
    response = _post(signed_in_client(admin), _rota_url(programme), _shift_body(supervisor))
    assert response.status_code == 201
    shift = OnCallShift.objects.get()
    assert shift.created_by == admin
    rota = signed_in_client(supervisor).get(_rota_url(programme)).json()
    assert rota == [
        {
            "id": shift.id,
            "supervisor": {"id": supervisor.id, "display_name": supervisor.first_name},
            "level": 1,
            "starts_at": "2026-06-08T18:00:00+00:00",
            "ends_at": "2026-06-09T08:00:00+00:00",
            "on_call_now": False,
            "has_escalation_phone": False,
        }
    ]


def test_the_rota_shows_who_is_on_call_now_and_who_has_a_phone(
    programme: Programme, supervisor: User
) -> None:
    set_staff_phone(user=supervisor, phone=fictional_phone(), changed_by=supervisor)
    add_on_call_shift(
        programme=programme,
        supervisor=supervisor,
        starts_at=NOW - dt.timedelta(hours=1),
        ends_at=NOW + dt.timedelta(hours=1),
        created_by=None,
    )
    (row,) = signed_in_client(supervisor).get(_rota_url(programme)).json()
    assert (row["on_call_now"], row["has_escalation_phone"]) == (True, True)


def test_shifts_that_are_over_are_not_listed(programme: Programme, supervisor: User) -> None:
    add_on_call_shift(
        programme=programme,
        supervisor=supervisor,
        starts_at=NOW - dt.timedelta(hours=3),
        ends_at=NOW,
        created_by=None,
    )
    assert signed_in_client(supervisor).get(_rota_url(programme)).json() == []


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"supervisor": 999_999}, 404, "unknown_user"),
        ({"level": 0}, 400, "invalid_level"),
        ({"level": 9}, 400, "invalid_level"),
        ({"starts_at": "2026-06-08T18:00"}, 400, "time_without_offset"),
        ({"ends_at": "2026-06-08T17:00Z"}, 400, "invalid_period"),
        ({"level": "high"}, 400, "invalid"),
    ],
    ids=["unknown-user", "level-0", "level-9", "no-offset", "end-before-start", "level-text"],
)
def test_a_bad_shift_is_refused_with_its_code(
    programme: Programme,
    supervisor: User,
    overrides: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = _writes()
    response = _post(
        signed_in_client(supervisor), _rota_url(programme), _shift_body(supervisor, **overrides)
    )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert _writes() == before


def test_a_peer_supporter_cannot_be_put_on_call(
    programme: Programme, supervisor: User, peer: User
) -> None:
    before = _writes()
    response = _post(signed_in_client(supervisor), _rota_url(programme), _shift_body(peer))
    assert response.status_code == 400
    assert response.json()["code"] == "not_a_supervisor"
    assert _writes() == before


def test_the_rota_of_another_programme_is_not_found(supervisor: User) -> None:
    other = make_programme("other")
    client = signed_in_client(supervisor)
    assert client.get(_rota_url(other)).status_code == 404
    response = _post(client, _rota_url(other), _shift_body(supervisor))
    assert response.status_code == 404
    assert not OnCallShift.objects.exists()


def test_a_supervisor_elsewhere_who_is_a_peer_here_cannot_write_the_rota(
    programme: Programme, supervisor: User
) -> None:
    other = make_programme("other")
    both = make_staff(other, Role.SUPERVISOR)
    from programmes.services import grant_role

    grant_role(user=both, programme=programme, role=Role.PEER_SUPPORTER)
    response = _post(signed_in_client(both), _rota_url(programme), _shift_body(supervisor))
    assert response.status_code == 403
    assert not OnCallShift.objects.exists()
