from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from people.models import Participant
from people.selectors import participant_profile
from programmes.models import Enrolment
from tests.support.factories import World, fictional_phone, signed_in_client

pytestmark = pytest.mark.django_db


def _ids(response: Any) -> set[str]:
    assert response.status_code == 200
    return {row["id"] for row in response.json()}


def test_each_role_sees_exactly_its_caseload(world: World) -> None:
    url = f"/api/v1/programmes/{world.programme.slug}/enrolments/"
    own, others = str(world.own.id), str(world.others.id)
    assert _ids(signed_in_client(world.peer).get(url)) == {own}
    assert _ids(signed_in_client(world.other_peer).get(url)) == {others}
    assert _ids(signed_in_client(world.supervisor).get(url)) == {own}
    everyone = {
        str(pk)
        for pk in Enrolment.objects.filter(programme=world.programme).values_list("pk", flat=True)
    }
    assert {own, others} <= everyone
    assert _ids(signed_in_client(world.admin).get(url)) == everyone


def test_supervisors_see_the_unassigned_waiting_queue(world: World) -> None:
    from tests.support.factories import enrol

    waiting = enrol(world.programme, by=world.admin)
    url = f"/api/v1/programmes/{world.programme.slug}/enrolments/"
    assert str(waiting.id) in _ids(signed_in_client(world.supervisor).get(url))
    assert str(waiting.id) not in _ids(signed_in_client(world.peer).get(url))


def test_peer_supporters_see_a_masked_phone_and_no_arm(world: World) -> None:
    response = signed_in_client(world.peer).get(f"/api/v1/enrolments/{world.own.id}/")
    body = response.json()
    phone = participant_profile(world.own.participant).phone
    assert body["participant"]["display_name"] == participant_profile(world.own.participant).name
    assert body["participant"]["phone"] != phone
    assert body["participant"]["phone"].endswith(phone[-2:])
    assert "arm" not in body
    assert body["services"]["peer_support"] is True


def test_admins_see_the_arm_and_the_full_phone(world: World) -> None:
    body = signed_in_client(world.admin).get(f"/api/v1/enrolments/{world.own.id}/").json()
    assert body["arm"] == world.own.arm.code
    assert body["participant"]["phone"] == participant_profile(world.own.participant).phone


def test_a_handoff_moves_the_person_to_the_new_caseload(world: World) -> None:
    from programmes.models import TeamMembership

    team = TeamMembership.objects.get(peer_supporter=world.peer).team
    TeamMembership.objects.create(
        team=team, peer_supporter=world.other_peer, programme=world.programme
    )
    response = signed_in_client(world.supervisor).post(
        f"/api/v1/enrolments/{world.own.id}/assignments/",
        {"peer_supporter": world.other_peer.id, "reason": "leave"},
        content_type="application/json",
    )
    assert response.status_code == 201
    url = f"/api/v1/programmes/{world.programme.slug}/enrolments/"
    assert str(world.own.id) not in _ids(signed_in_client(world.peer).get(url))
    assert str(world.own.id) in _ids(signed_in_client(world.other_peer).get(url))
    history = (
        signed_in_client(world.supervisor)
        .get(f"/api/v1/enrolments/{world.own.id}/assignments/")
        .json()
    )
    assert [h["reason"] for h in history] == ["initial", "leave"]


def _enrol_body(**change: str) -> dict[str, str]:
    return {
        "site": "north",
        "name": "Api Person",
        "phone": fictional_phone(),
        "language": "en",
        "time_zone": "America/Edmonton",
        **change,
    }


def test_enrolling_through_the_api_returns_the_enrolment(world: World) -> None:
    response = signed_in_client(world.admin).post(
        f"/api/v1/programmes/{world.programme.slug}/enrolments/",
        {
            "site": "south",
            "name": "Api Person",
            "phone": fictional_phone(),
            "language": "fr",
            "time_zone": "America/Edmonton",
            "preferred_channel": "web",
            "track": "depression",
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["site"] == "south"
    assert body["track"] == "depression"
    assert body["participant"]["display_name"] == "Api Person"
    assert Enrolment.objects.filter(pk=body["id"]).exists()


def test_enrolling_through_the_api_stores_the_age_band_and_gender(world: World) -> None:
    response = signed_in_client(world.admin).post(
        f"/api/v1/programmes/{world.programme.slug}/enrolments/",
        _enrol_body(age_band="65+", gender="not_stated"),
        content_type="application/json",
    )
    assert response.status_code == 201
    enrolment = Enrolment.objects.get(pk=response.json()["id"])
    assert (enrolment.age_band, enrolment.gender) == ("65+", "not_stated")


def test_the_enrolment_payload_shows_staff_no_age_band_or_gender(world: World) -> None:
    response = signed_in_client(world.admin).post(
        f"/api/v1/programmes/{world.programme.slug}/enrolments/",
        _enrol_body(age_band="25-34", gender="woman"),
        content_type="application/json",
    )
    body = response.json()
    assert "age_band" not in body
    assert "gender" not in body
    assert "age_band" not in body["participant"]
    assert "gender" not in body["participant"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"phone": "12"}, 400, "invalid_phone"),
        ({"time_zone": "Nowhere/Land"}, 400, "invalid_time_zone"),
        ({"site": "atlantis"}, 400, "invalid_site"),
        ({"language": "de"}, 400, "invalid_language"),
        ({"name": ""}, 400, "invalid"),
        ({"preferred_channel": "fax"}, 400, "invalid"),
        ({"age_band": "90+"}, 400, "invalid"),
        ({"gender": "female"}, 400, "invalid"),
    ],
)
def test_bad_enrolment_requests_get_a_coded_error_and_write_nothing(
    world: World, change: dict[str, str], status: int, code: str
) -> None:
    before = (Participant.objects.count(), Enrolment.objects.count())
    response = signed_in_client(world.admin).post(
        f"/api/v1/programmes/{world.programme.slug}/enrolments/",
        _enrol_body(**change),
        content_type="application/json",
    )
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code)
    if code == "invalid":
        assert set(body["fields"]) == set(change)
    assert (Participant.objects.count(), Enrolment.objects.count()) == before


def test_duplicate_enrolment_through_the_api_is_a_conflict(world: World) -> None:
    phone = participant_profile(world.own.participant).phone
    response = signed_in_client(world.admin).post(
        f"/api/v1/programmes/{world.programme.slug}/enrolments/",
        _enrol_body(name="Again", phone=phone),
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "already_enrolled")


def test_assigning_beyond_capacity_through_the_api_is_a_conflict(world: World) -> None:
    from programmes.models import PeerSupporterProfile

    PeerSupporterProfile.objects.filter(user=world.other_peer).update(capacity=1)
    response = signed_in_client(world.admin).post(
        f"/api/v1/enrolments/{world.own.id}/assignments/",
        {"peer_supporter": world.other_peer.id, "reason": "capacity"},
        content_type="application/json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "caseload_full")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "site",
                "name",
                "phone",
                "language",
                "time_zone",
                "preferred_channel",
                "track",
                "discharge_date",
                "age_band",
                "gender",
                "extra",
            ]
        ),
        json_values,
        max_size=9,
    )
)
def test_random_enrolment_bodies_never_cause_a_server_error_or_a_partial_write(
    world: World, body: dict[str, Any]
) -> None:
    before = Enrolment.objects.count()
    response = signed_in_client(world.admin).post(
        f"/api/v1/programmes/{world.programme.slug}/enrolments/",
        body,
        content_type="application/json",
    )
    assert response.status_code in (201, 400, 409), response.content[:200]
    assert Enrolment.objects.count() == before + (1 if response.status_code == 201 else 0)
