from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from programmes import services
from programmes.models import (
    CaseloadAssignment,
    EnrolmentStatus,
    HandoffReason,
    PeerSupporterProfile,
    Role,
)
from tests.support.factories import enrol, make_programme, make_staff

pytestmark = pytest.mark.django_db


def _assign(enrolment, peer, reason=HandoffReason.INITIAL):  # type: ignore[no-untyped-def]
    return services.assign_peer_supporter(
        enrolment=enrolment, peer_supporter=peer, assigned_by=None, reason=reason
    )


def test_handoff_ends_the_previous_assignment_and_keeps_the_history() -> None:
    programme = make_programme()
    first, second = (
        make_staff(programme, Role.PEER_SUPPORTER),
        make_staff(programme, Role.PEER_SUPPORTER),
    )
    enrolment = enrol(programme)
    _assign(enrolment, first)
    _assign(enrolment, second, HandoffReason.LEAVE)
    history = list(
        CaseloadAssignment.objects.filter(enrolment=enrolment).order_by("started_at", "id")
    )
    assert [(a.peer_supporter, a.reason, a.ended_at is None) for a in history] == [
        (first, "initial", False),
        (second, "leave", True),
    ]
    entry = AuditEntry.objects.get(action="assignment.handoff")
    assert entry.details == {
        "peer_supporter": second.id,
        "previous_peer_supporter": first.id,
        "reason": "leave",
    }


def test_assigning_the_same_peer_again_changes_nothing() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    enrolment = enrol(programme)
    first = _assign(enrolment, peer)
    again = _assign(enrolment, peer, HandoffReason.OTHER)
    assert again.pk == first.pk
    assert CaseloadAssignment.objects.count() == 1


def test_a_handoff_needs_a_reason() -> None:
    programme = make_programme()
    first, second = (
        make_staff(programme, Role.PEER_SUPPORTER),
        make_staff(programme, Role.PEER_SUPPORTER),
    )
    enrolment = enrol(programme)
    _assign(enrolment, first)
    with pytest.raises(DomainError) as excinfo:
        _assign(enrolment, second, HandoffReason.INITIAL)
    assert excinfo.value.code == "invalid_reason"
    assert CaseloadAssignment.objects.get().peer_supporter == first


def test_assigning_beyond_capacity_is_refused_and_writes_nothing() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    PeerSupporterProfile.objects.filter(user=peer).update(capacity=2)
    for _ in range(2):
        _assign(enrol(programme), peer)
    extra = enrol(programme)
    with pytest.raises(Conflict) as excinfo:
        _assign(extra, peer)
    assert excinfo.value.code == "caseload_full"
    assert CaseloadAssignment.objects.filter(enrolment=extra).count() == 0


def test_ended_enrolments_free_capacity() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    PeerSupporterProfile.objects.filter(user=peer).update(capacity=1)
    first = enrol(programme)
    _assign(first, peer)
    services.end_enrolment(enrolment=first, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    _assign(enrol(programme), peer)
    assert (
        CaseloadAssignment.objects.filter(peer_supporter=peer, ended_at__isnull=True).count() == 1
    )


def test_only_a_peer_supporter_of_the_programme_can_be_assigned() -> None:
    programme = make_programme()
    supervisor = make_staff(programme, Role.SUPERVISOR)
    with pytest.raises(DomainError) as excinfo:
        _assign(enrol(programme), supervisor)
    assert excinfo.value.code == "not_a_peer_supporter"


def test_a_peer_supporter_belongs_to_one_team_per_programme() -> None:
    programme = make_programme()
    sup1, sup2 = make_staff(programme, Role.SUPERVISOR), make_staff(programme, Role.SUPERVISOR)
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    services.add_to_team(
        team=services.create_team(programme=programme, name="A", supervisor=sup1),
        peer_supporter=peer,
    )
    with pytest.raises(Conflict):
        services.add_to_team(
            team=services.create_team(programme=programme, name="B", supervisor=sup2),
            peer_supporter=peer,
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_never_exceed_capacity() -> None:
    programme = make_programme()
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    PeerSupporterProfile.objects.filter(user=peer).update(capacity=3)
    enrolments = [enrol(programme) for _ in range(8)]
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(enrolments))

    def work(enrolment) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        for _attempt in range(50):
            try:
                _assign(enrolment, peer)
                result = "ok"
            except Conflict:
                result = "full"
            except Exception as exc:  # SQLite: "database is locked" under contention; retry
                if "locked" not in str(exc):
                    result = f"error {type(exc).__name__} {exc}"
                else:
                    continue
            break
        else:
            result = "gave up"
        with lock:
            outcomes.append(result)
        connection.close()

    threads = [threading.Thread(target=work, args=(e,)) for e in enrolments]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["full"] * 5 + ["ok"] * 3
    assert (
        CaseloadAssignment.objects.filter(peer_supporter=peer, ended_at__isnull=True).count() == 3
    )
