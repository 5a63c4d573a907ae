"""Automatic assignment: to the least-loaded on-duty peer supporter of the programme who covers
the person's site and speaks their language, under capacity, with deterministic ties; nobody
suitable leaves the person waiting with nothing written."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import AuditEntry
from people.models import User
from programmes import services
from programmes.models import (
    CaseloadAssignment,
    Enrolment,
    EnrolmentStatus,
    HandoffReason,
    PeerSupporterProfile,
    Programme,
    Role,
    Site,
)
from programmes.selectors import waiting_enrolments
from programmes.tasks import assign_waiting
from staffing.services import record_leave
from tests.platform.staffing.helpers import EVERY_DAY, hours, utc, with_hours
from tests.support.factories import enrol, fictional_phone, make_programme, make_staff

pytestmark = pytest.mark.django_db

ALWAYS = hours(EVERY_DAY, "00:00", "24:00")


def _peer(programme: Programme, *, on_duty: bool = True, capacity: int = 15) -> User:
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    with_hours(peer, ALWAYS if on_duty else {}, "UTC")
    PeerSupporterProfile.objects.filter(user=peer).update(capacity=capacity)
    return peer


def _match(peer: User, *, languages: list[str] | None = None, sites: Sequence[Site] = ()) -> None:
    profile = PeerSupporterProfile.objects.get(user=peer)
    profile.languages = languages or []
    profile.save(update_fields=["languages"])
    profile.sites.set(sites)


def _person(programme: Programme, *, language: str = "en", site: str = "north") -> Enrolment:
    """A waiting person in an arm with peer support (allocation is random: retried)."""
    for _ in range(200):
        enrolment = services.enrol_participant(
            programme=programme,
            site=Site.objects.get(programme=programme, code=site),
            name="Test Person",
            phone=fictional_phone(),
            language=language,
            time_zone="America/Edmonton",
            enrolled_by=None,
        )
        if enrolment.arm.peer_support:
            return enrolment
    raise AssertionError("allocation never gave peer support")


def _load(peer: User, count: int, programme: Programme) -> None:
    for _ in range(count):
        services.assign_peer_supporter(
            enrolment=enrol(programme),
            peer_supporter=peer,
            assigned_by=None,
            reason=HandoffReason.INITIAL,
        )


def _writes() -> tuple[int, int]:
    return CaseloadAssignment.objects.count(), AuditEntry.objects.count()


@pytest.fixture
def programme(db: None) -> Programme:
    return make_programme()


def test_the_least_loaded_on_duty_peer_supporter_is_chosen(programme: Programme) -> None:
    busy, lighter = _peer(programme), _peer(programme)
    _peer(programme, on_duty=False)  # the least loaded of all, but off duty
    _load(busy, 2, programme)
    _load(lighter, 1, programme)
    assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == lighter


def test_a_peer_supporter_at_capacity_is_passed_over(programme: Programme) -> None:
    full = _peer(programme, capacity=1)
    roomy = _peer(programme, capacity=10)
    _load(full, 1, programme)
    _load(roomy, 3, programme)
    assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == roomy


def test_everyone_full_leaves_the_person_waiting_and_writes_nothing(programme: Programme) -> None:
    full = _peer(programme, capacity=1)
    _load(full, 1, programme)
    person = _person(programme)
    before = _writes()
    assert services.auto_assign(enrolment=person) is None
    assert _writes() == before
    assert person in waiting_enrolments(programme=programme)


def test_nobody_on_duty_leaves_the_person_waiting_and_writes_nothing(
    programme: Programme,
) -> None:
    _peer(programme, on_duty=False)
    person = _person(programme)
    before = _writes()
    assert services.auto_assign(enrolment=person) is None
    assert _writes() == before
    assert person in waiting_enrolments(programme=programme)


def test_working_hours_decide_who_is_on_duty_at_the_time(programme: Programme) -> None:
    day, night = _peer(programme), _peer(programme)
    with_hours(day, hours(EVERY_DAY, "09:00", "17:00"), "America/Edmonton")
    with_hours(night, hours(EVERY_DAY, "22:00", "06:00"), "America/Edmonton")
    at_noon = services.auto_assign(enrolment=_person(programme), at=utc("2026-06-08T18:00"))
    at_night = services.auto_assign(enrolment=_person(programme), at=utc("2026-06-09T07:00"))
    assert (at_noon and at_noon.peer_supporter, at_night and at_night.peer_supporter) == (
        day,
        night,
    )


def test_a_peer_supporter_on_leave_is_passed_over(programme: Programme) -> None:
    away, here = _peer(programme), _peer(programme)
    _load(here, 2, programme)
    with time_machine.travel(utc("2026-06-08T12:00"), tick=False):
        record_leave(
            user=away,
            starts_at=utc("2026-06-08T00:00"),
            ends_at=utc("2026-06-09T00:00"),
            recorded_by=None,
        )
        assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == here


def test_a_peer_supporter_who_sets_languages_gets_only_those(programme: Programme) -> None:
    english_only, french = _peer(programme), _peer(programme)
    _match(english_only, languages=["en"])
    _match(french, languages=["fr"])
    _load(french, 3, programme)
    assignment = services.auto_assign(enrolment=_person(programme, language="fr"))
    assert assignment is not None
    assert assignment.peer_supporter == french


def test_no_languages_set_means_any_language(programme: Programme) -> None:
    anyone = _peer(programme)
    assignment = services.auto_assign(enrolment=_person(programme, language="fr"))
    assert assignment is not None
    assert assignment.peer_supporter == anyone


def test_nobody_speaking_the_language_leaves_the_person_waiting(programme: Programme) -> None:
    _match(_peer(programme), languages=["en"])
    person = _person(programme, language="fr")
    before = _writes()
    assert services.auto_assign(enrolment=person) is None
    assert _writes() == before


def test_a_peer_supporter_who_sets_sites_covers_only_those(programme: Programme) -> None:
    south_only, north = _peer(programme), _peer(programme)
    _match(south_only, sites=[Site.objects.get(programme=programme, code="south")])
    _match(north, sites=[Site.objects.get(programme=programme, code="north")])
    _load(north, 3, programme)
    assignment = services.auto_assign(enrolment=_person(programme, site="north"))
    assert assignment is not None
    assert assignment.peer_supporter == north


def test_nobody_covering_the_site_leaves_the_person_waiting(programme: Programme) -> None:
    _match(_peer(programme), sites=[Site.objects.get(programme=programme, code="south")])
    person = _person(programme, site="north")
    before = _writes()
    assert services.auto_assign(enrolment=person) is None
    assert _writes() == before


def test_sites_chosen_in_another_programme_do_not_narrow_this_one(programme: Programme) -> None:
    elsewhere = make_programme("elsewhere")
    peer = _peer(programme)
    services.grant_role(user=peer, programme=elsewhere, role=Role.PEER_SUPPORTER)
    _match(peer, sites=[Site.objects.get(programme=elsewhere, code="south")])
    assignment = services.auto_assign(enrolment=_person(programme, site="north"))
    assert assignment is not None
    assert assignment.peer_supporter == peer


def test_a_peer_supporter_of_another_programme_is_never_chosen(programme: Programme) -> None:
    _peer(make_programme("elsewhere"))
    assert services.auto_assign(enrolment=_person(programme)) is None


def test_equal_loads_go_to_whoever_was_last_given_someone_longest_ago(
    programme: Programme,
) -> None:
    recent, earlier = _peer(programme), _peer(programme)
    with time_machine.travel(utc("2026-06-01T10:00"), tick=False):
        _load(earlier, 1, programme)
    with time_machine.travel(utc("2026-06-05T10:00"), tick=False):
        _load(recent, 1, programme)
    assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == earlier


def test_never_assigned_comes_before_assigned_long_ago_at_equal_load(
    programme: Programme,
) -> None:
    veteran, newcomer = _peer(programme), _peer(programme)
    with time_machine.travel(utc("2026-01-01T10:00"), tick=False):
        first = enrol(programme)
        services.assign_peer_supporter(
            enrolment=first, peer_supporter=veteran, assigned_by=None, reason=HandoffReason.INITIAL
        )
        services.end_enrolment(enrolment=first, status=EnrolmentStatus.COMPLETED, ended_by=None)
    assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == newcomer


def test_a_full_tie_goes_to_the_lowest_id(programme: Programme) -> None:
    peers = [_peer(programme) for _ in range(3)]
    assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == min(peers, key=lambda p: p.pk)


def test_an_inactive_account_is_never_chosen(programme: Programme) -> None:
    gone, staying = _peer(programme), _peer(programme)
    _load(staying, 2, programme)
    User.objects.filter(pk=gone.pk).update(is_active=False)
    assignment = services.auto_assign(enrolment=_person(programme))
    assert assignment is not None
    assert assignment.peer_supporter == staying


def test_the_audit_entry_says_the_assignment_was_automatic(programme: Programme) -> None:
    peer = _peer(programme)
    person = _person(programme)
    services.auto_assign(enrolment=person)
    entry = AuditEntry.objects.get(action="assignment.created", target_id=str(person.pk))
    assert entry.actor_id is None
    assert entry.details == {
        "peer_supporter": peer.pk,
        "previous_peer_supporter": None,
        "reason": "initial",
        "auto": True,
    }


def test_someone_already_assigned_is_left_alone(programme: Programme) -> None:
    current, idle = _peer(programme), _peer(programme)
    _load(current, 2, programme)
    person = _person(programme)
    services.assign_peer_supporter(
        enrolment=person, peer_supporter=current, assigned_by=None, reason=HandoffReason.INITIAL
    )
    before = _writes()
    assert services.auto_assign(enrolment=person) is None
    assert _writes() == before
    assert idle.assignments.count() == 0


def test_an_arm_without_peer_support_is_never_assigned(programme: Programme) -> None:
    _peer(programme)
    person = enrol(programme, peer_support=False)
    assert services.auto_assign(enrolment=person) is None
    assert not CaseloadAssignment.objects.filter(enrolment=person).exists()


def test_an_ended_enrolment_is_never_assigned(programme: Programme) -> None:
    _peer(programme)
    person = _person(programme)
    services.end_enrolment(enrolment=person, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    assert services.auto_assign(enrolment=person) is None
    assert not CaseloadAssignment.objects.filter(enrolment=person).exists()


# At enrolment, and for the waiting queue


def test_enrolment_assigns_when_the_programme_auto_assigns(db: None) -> None:
    programme = make_programme("auto", auto_assign=True)
    peer = _peer(programme)
    person = _person(programme)
    assert CaseloadAssignment.objects.get(
        enrolment=person, ended_at__isnull=True
    ).peer_supporter == (peer)


def test_enrolment_leaves_the_person_waiting_when_auto_assign_is_off(
    programme: Programme,
) -> None:
    _peer(programme)
    person = _person(programme)
    assert person in waiting_enrolments(programme=programme)


def test_enrolment_with_nobody_on_duty_still_enrols_and_waits(db: None) -> None:
    programme = make_programme("auto", auto_assign=True)
    _peer(programme, on_duty=False)
    person = _person(programme)
    assert Enrolment.objects.filter(pk=person.pk).exists()
    assert person in waiting_enrolments(programme=programme)


def test_the_queue_goes_to_a_peer_supporter_who_comes_on_duty_oldest_first(db: None) -> None:
    programme = make_programme("auto", auto_assign=True)
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "UTC")
    PeerSupporterProfile.objects.filter(user=peer).update(capacity=1)
    with time_machine.travel(utc("2026-06-08T20:00"), tick=False):
        oldest = _person(programme)
    with time_machine.travel(utc("2026-06-08T21:00"), tick=False):
        newer = _person(programme)
    assert not CaseloadAssignment.objects.exists()
    with time_machine.travel(utc("2026-06-09T08:59"), tick=False):
        assert services.assign_waiting() == 0
    with time_machine.travel(utc("2026-06-09T09:00"), tick=False):
        assert services.assign_waiting() == 1
    assert CaseloadAssignment.objects.get().enrolment == oldest
    assert newer in waiting_enrolments(programme=programme)


def test_the_queue_is_left_alone_in_programmes_without_auto_assign(
    programme: Programme,
) -> None:
    _peer(programme)
    person = _person(programme)
    assert services.assign_waiting() == 0
    assert person in waiting_enrolments(programme=programme)


def test_the_queue_run_skips_people_nobody_suits_and_assigns_the_rest(db: None) -> None:
    programme = make_programme("auto", auto_assign=True)
    english = _peer(programme, on_duty=False)
    _match(english, languages=["en"])
    french_speaker = _person(programme, language="fr")
    english_speaker = _person(programme, language="en")
    with_hours(english, ALWAYS, "UTC")
    assert services.assign_waiting() == 1
    assert CaseloadAssignment.objects.get().enrolment == english_speaker
    assert french_speaker in waiting_enrolments(programme=programme)


def test_the_task_assigns_the_queue_and_returns_the_count(db: None) -> None:
    programme = make_programme("auto", auto_assign=True)
    peer = _peer(programme, on_duty=False)
    _person(programme)
    _person(programme)
    with_hours(peer, ALWAYS, "UTC")
    assert assign_waiting.delay(programme.pk).get() == 2
    assert assign_waiting.delay().get() == 0


def test_the_task_for_a_programme_that_no_longer_exists_does_nothing(db: None) -> None:
    assert assign_waiting.delay(999_999).get() == 0


def test_the_beat_runs_the_queue_every_minute() -> None:
    schedule = assign_waiting.app.conf.beat_schedule
    entries = [entry for entry in schedule.values() if entry["task"] == assign_waiting.name]
    assert assign_waiting.name == "programmes.assign_waiting"
    assert [entry["schedule"] for entry in entries] == [60.0]


def test_the_command_assigns_the_queue(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    programme = make_programme("auto", auto_assign=True)
    peer = _peer(programme, on_duty=False)
    _person(programme)
    with_hours(peer, ALWAYS, "UTC")
    call_command("assign_waiting", "--programme", programme.slug)
    assert capsys.readouterr().out.strip() == "assigned 1"


def test_the_command_refuses_an_unknown_programme(db: None) -> None:
    with pytest.raises(CommandError):
        call_command("assign_waiting", "--programme", "nope")


# Concurrency: capacity holds under the lock of `assign_peer_supporter`.


def _in_threads(work: Any, enrolments: list[Enrolment]) -> list[Any]:
    results: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(enrolments))

    def run(enrolment: Enrolment) -> None:
        barrier.wait()
        try:
            outcome: Any = work(enrolment)
        except Exception as exc:  # reported, not swallowed: the assertion shows it
            outcome = f"error {type(exc).__name__}"
        with lock:
            results.append(outcome)
        connection.close()

    threads = [threading.Thread(target=run, args=(e,)) for e in enrolments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_auto_assignments_fill_one_last_slot_once() -> None:
    programme = make_programme()
    peer = _peer(programme, capacity=3)
    _load(peer, 2, programme)
    people = [_person(programme), _person(programme)]
    results = _in_threads(lambda e: services.auto_assign(enrolment=e), people)
    assert sorted(str(r is None) for r in results) == ["False", "True"], results
    assert (
        CaseloadAssignment.objects.filter(peer_supporter=peer, ended_at__isnull=True).count() == 3
    )
    assert len([p for p in people if p in waiting_enrolments(programme=programme)]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_peer_supporter_filled_concurrently_sends_the_other_to_the_next() -> None:
    programme = make_programme()
    first_choice = _peer(programme, capacity=1)
    next_choice = _peer(programme, capacity=5)
    _load(next_choice, 2, programme)
    people = [_person(programme), _person(programme)]
    results = _in_threads(lambda e: services.auto_assign(enrolment=e), people)
    assert sorted(r.peer_supporter_id for r in results) == sorted(
        [first_choice.pk, next_choice.pk]
    ), results


@pytest.mark.django_db(transaction=True)
def test_the_same_person_auto_assigned_twice_at_once_gets_one_peer_supporter() -> None:
    programme = make_programme()
    _peer(programme)
    _peer(programme)
    person = _person(programme)
    results = _in_threads(lambda e: services.auto_assign(enrolment=e), [person, person])
    assert sorted(str(r is None) for r in results) == ["False", "True"], results
    assert CaseloadAssignment.objects.filter(enrolment=person).count() == 1
