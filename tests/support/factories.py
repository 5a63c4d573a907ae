"""Builders for test data, all through the real services. Names and numbers are fictional."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from django.test import Client

from people.models import Channel, User
from programmes import services
from programmes.models import (
    AgeBand,
    Enrolment,
    Gender,
    HandoffReason,
    Organisation,
    Programme,
    Role,
    Site,
)
from staffing.availability import WEEKDAYS
from staffing.services import set_working_hours

_counter = itertools.count(1)


def fictional_phone() -> str:
    """A valid Canadian number in the 555-01XX fiction range (100 per area code), in area
    codes that no test writes by hand: a test's own fixed number never collides with one of
    these, whatever order the tests run in."""
    n = next(_counter)
    area = ["250", "306", "639", "709", "867"][(n // 100) % 5]
    return f"+1{area}55501{n % 100:02d}"


def make_programme(slug: str = "trial", **kwargs: object) -> Programme:
    organisation, _ = Organisation.objects.get_or_create(slug="org", defaults={"name": "Org"})
    defaults: dict[str, object] = {
        "name": f"Programme {slug}",
        "time_zone": "America/Edmonton",
        "languages": ["en", "fr"],
        "crisis_resources": {"en": "Call 988.", "fr": "Appelez le 988."},
        "sites": [("north", "North"), ("south", "South")],
        # Tests assign explicitly; automatic assignment would depend on the hour they run at.
        "auto_assign": False,
    }
    defaults.update(kwargs)
    return services.create_programme(organisation=organisation, slug=slug, **defaults)  # type: ignore[arg-type]


def make_staff(programme: Programme, role: str, username: str | None = None) -> User:
    user = User.objects.create_user(
        username=username or f"{role}-{next(_counter)}",
        password="pw-for-tests-only",
        first_name=role.title(),
    )
    services.grant_role(user=user, programme=programme, role=role)
    if role == Role.PEER_SUPPORTER:
        # On duty around the clock unless a test says otherwise: what a test sees must not
        # depend on the hour it runs at (off-duty peers get automatic "away" replies).
        set_working_hours(user=user, working_hours=ALWAYS_ON_DUTY, time_zone="UTC", changed_by=None)
    return user


ALWAYS_ON_DUTY = {day: ["00:00", "24:00"] for day in WEEKDAYS}


def enrol(
    programme: Programme,
    *,
    site: str = "north",
    name: str = "Test Person",
    phone: str | None = None,
    channel: str = Channel.SMS,
    by: User | None = None,
    peer_support: bool | None = True,
    sms_consent: bool = True,
    time_zone: str = "America/Edmonton",
    language: str = "en",
    track: str = "general",
    research_consent: bool = False,
    age_band: str = AgeBand.NOT_RECORDED,
    gender: str = Gender.NOT_RECORDED,
) -> Enrolment:
    """Enrol a person. With `peer_support` set, retries allocation until the arm matches, so that
    tests don't depend on the random draw (each retry is a new person)."""
    for _ in range(200):
        enrolment = services.enrol_participant(
            programme=programme,
            site=Site.objects.get(programme=programme, code=site),
            name=name,
            phone=phone or fictional_phone(),
            language=language,
            time_zone=time_zone,
            preferred_channel=channel,
            track=track,
            enrolled_by=by,
            sms_consent_version="v1" if sms_consent else None,
            research_consent_version="v1" if research_consent else None,
            age_band=age_band,
            gender=gender,
        )
        if peer_support is None or enrolment.arm.peer_support == peer_support:
            return enrolment
        phone = None
    raise AssertionError("allocation never produced the wanted arm")


@dataclass
class World:
    """One programme with a full cast: admin, supervisor + team of two peers, an outside
    peer, an evaluator, and participants on each peer's caseload."""

    programme: Programme
    admin: User
    supervisor: User
    peer: User
    other_peer: User
    evaluator: User
    own: Enrolment
    others: Enrolment


def make_world() -> World:
    programme = make_programme()
    admin = make_staff(programme, Role.ADMIN, "admin")
    supervisor = make_staff(programme, Role.SUPERVISOR, "supervisor")
    peer = make_staff(programme, Role.PEER_SUPPORTER, "peer")
    other_peer = make_staff(programme, Role.PEER_SUPPORTER, "other-peer")
    evaluator = make_staff(programme, Role.EVALUATOR, "evaluator")
    team = services.create_team(programme=programme, name="Team", supervisor=supervisor)
    services.add_to_team(team=team, peer_supporter=peer)
    own = enrol(programme, by=admin)
    others = enrol(programme, by=admin, name="Other Person")
    services.assign_peer_supporter(
        enrolment=own, peer_supporter=peer, assigned_by=admin, reason=HandoffReason.INITIAL
    )
    services.assign_peer_supporter(
        enrolment=others, peer_supporter=other_peer, assigned_by=admin, reason=HandoffReason.INITIAL
    )
    return World(programme, admin, supervisor, peer, other_peer, evaluator, own, others)


def signed_in_client(user: User) -> Client:
    """A test client with a session for `user`."""
    client = Client()
    client.force_login(user)
    return client
