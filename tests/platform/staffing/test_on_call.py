"""The supervisors' on-call rota: who is on call at each escalation level, leave taking
precedence, and shifts refused without writing anything when their input is bad."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from people.models import User
from programmes.models import Programme, Role
from staffing.availability import escalation_levels, on_call_at_level, on_duty_supervisor_ids
from staffing.models import OnCallShift
from staffing.services import MAX_LEVEL, add_on_call_shift, record_leave
from tests.platform.staffing.helpers import utc
from tests.support.factories import make_programme, make_staff

pytestmark = pytest.mark.django_db

NIGHT = (utc("2026-06-08T18:00"), utc("2026-06-09T08:00"))
AT = utc("2026-06-08T23:00")


def _shift(
    programme: Programme,
    supervisor: User,
    level: int = 1,
    span: tuple[dt.datetime, dt.datetime] = NIGHT,
) -> OnCallShift:
    return add_on_call_shift(
        programme=programme,
        supervisor=supervisor,
        starts_at=span[0],
        ends_at=span[1],
        level=level,
        created_by=None,
    )


def _counts() -> tuple[int, int]:
    return OnCallShift.objects.count(), AuditEntry.objects.count()


def test_each_level_has_its_own_supervisors(programme: Programme, supervisor: User) -> None:
    backup = make_staff(programme, Role.SUPERVISOR)
    _shift(programme, supervisor, level=1)
    _shift(programme, backup, level=2)
    assert on_call_at_level(programme, 1, AT) == [supervisor]
    assert on_call_at_level(programme, 2, AT) == [backup]
    assert escalation_levels(programme, AT) == [1, 2]
    assert on_duty_supervisor_ids(programme, AT) == {supervisor.pk, backup.pk}


def test_a_shift_starts_inclusive_and_ends_exclusive(
    programme: Programme, supervisor: User
) -> None:
    _shift(programme, supervisor)
    assert on_call_at_level(programme, 1, NIGHT[0]) == [supervisor]
    assert on_call_at_level(programme, 1, NIGHT[1]) == []
    assert on_call_at_level(programme, 1, NIGHT[0] - dt.timedelta(seconds=1)) == []


def test_the_longest_serving_shift_comes_first(programme: Programme, supervisor: User) -> None:
    later = make_staff(programme, Role.SUPERVISOR)
    _shift(programme, later, span=(utc("2026-06-08T20:00"), NIGHT[1]))
    _shift(programme, supervisor)
    assert on_call_at_level(programme, 1, AT) == [supervisor, later]


def test_a_supervisor_on_leave_is_not_on_call(programme: Programme, supervisor: User) -> None:
    backup = make_staff(programme, Role.SUPERVISOR)
    _shift(programme, supervisor, level=1)
    _shift(programme, backup, level=1)
    record_leave(
        user=supervisor, starts_at=utc("2026-06-08T22:00"), ends_at=NIGHT[1], recorded_by=None
    )
    assert on_call_at_level(programme, 1, AT) == [backup]
    assert on_duty_supervisor_ids(programme, AT) == {backup.pk}


def test_a_level_whose_supervisors_are_all_on_leave_is_not_offered(
    programme: Programme, supervisor: User
) -> None:
    backup = make_staff(programme, Role.SUPERVISOR)
    _shift(programme, supervisor, level=1)
    _shift(programme, backup, level=2)
    record_leave(user=supervisor, starts_at=NIGHT[0], ends_at=NIGHT[1], recorded_by=None)
    assert escalation_levels(programme, AT) == [2]


def test_another_programmes_rota_is_separate(programme: Programme, supervisor: User) -> None:
    other = make_programme("other")
    _shift(programme, supervisor)
    assert on_call_at_level(other, 1, AT) == []
    assert escalation_levels(other, AT) == []


def test_adding_the_same_shift_twice_is_one_shift(programme: Programme, supervisor: User) -> None:
    first = _shift(programme, supervisor)
    assert _shift(programme, supervisor).pk == first.pk
    assert AuditEntry.objects.filter(action="on_call.shift_added").count() == 1


def test_the_same_start_with_another_end_is_a_conflict(
    programme: Programme, supervisor: User
) -> None:
    _shift(programme, supervisor)
    before = _counts()
    with pytest.raises(Conflict) as excinfo:
        _shift(programme, supervisor, span=(NIGHT[0], NIGHT[1] + dt.timedelta(hours=1)))
    assert excinfo.value.code == "shift_exists"
    assert _counts() == before


def test_only_the_programmes_supervisors_go_on_call(programme: Programme, peer: User) -> None:
    outsider = make_staff(make_programme("other"), Role.SUPERVISOR)
    before = _counts()
    for user in (peer, outsider):
        with pytest.raises(DomainError) as excinfo:
            _shift(programme, user)
        assert excinfo.value.code == "not_a_supervisor"
    assert _counts() == before


@pytest.mark.parametrize("level", [0, -1, MAX_LEVEL + 1, True])
def test_a_level_out_of_range_is_refused(
    programme: Programme, supervisor: User, level: int
) -> None:
    before = _counts()
    with pytest.raises(DomainError) as excinfo:
        _shift(programme, supervisor, level=level)
    assert excinfo.value.code == "invalid_level"
    assert _counts() == before


@pytest.mark.parametrize(
    ("span", "code"),
    [
        ((dt.datetime(2026, 6, 8, 18), dt.datetime(2026, 6, 9, 8)), "time_without_offset"),
        ((NIGHT[1], NIGHT[0]), "invalid_period"),
        ((NIGHT[0], NIGHT[0] + dt.timedelta(days=367)), "invalid_period"),
    ],
    ids=["naive", "end-before-start", "over-a-year"],
)
def test_a_bad_shift_period_is_refused(
    programme: Programme,
    supervisor: User,
    span: tuple[dt.datetime, dt.datetime],
    code: str,
) -> None:
    before = _counts()
    with pytest.raises(DomainError) as excinfo:
        _shift(programme, supervisor, span=span)
    assert excinfo.value.code == code
    assert _counts() == before
