"""Leave: it overrides working hours, `next_on_duty` skips it (and days off), recording is
idempotent, and bad periods are refused without writing anything."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from people.models import User
from staffing.availability import LOOKAHEAD_DAYS, next_on_duty, on_leave, peer_on_duty
from staffing.models import Leave
from staffing.services import cancel_leave, record_leave
from tests.platform.staffing.helpers import EVERY_DAY, WEEKDAYS, hours, utc, with_hours

pytestmark = pytest.mark.django_db

# 2026-06-08 is a Monday; the peer works weekdays 09:00-17:00 UTC.
MONDAY = "2026-06-08"


@pytest.fixture
def weekday_peer(peer: User) -> User:
    with_hours(peer, hours(WEEKDAYS, "09:00", "17:00"), "UTC")
    return peer


def _leave(user: User, start: str, end: str) -> Leave:
    return record_leave(user=user, starts_at=utc(start), ends_at=utc(end), recorded_by=None)


def _counts() -> tuple[int, int]:
    return Leave.objects.count(), AuditEntry.objects.count()


def test_leave_overrides_working_hours(weekday_peer: User) -> None:
    _leave(weekday_peer, f"{MONDAY}T12:00", f"{MONDAY}T14:00")
    assert peer_on_duty(weekday_peer, utc(f"{MONDAY}T11:59"))
    assert not peer_on_duty(weekday_peer, utc(f"{MONDAY}T12:00"))
    assert not peer_on_duty(weekday_peer, utc(f"{MONDAY}T13:59"))
    assert peer_on_duty(weekday_peer, utc(f"{MONDAY}T14:00"))


def test_on_leave_is_true_from_the_start_until_the_end(weekday_peer: User) -> None:
    _leave(weekday_peer, f"{MONDAY}T12:00", f"{MONDAY}T14:00")
    assert on_leave(weekday_peer, utc(f"{MONDAY}T12:00"))
    assert not on_leave(weekday_peer, utc(f"{MONDAY}T14:00"))


def test_next_on_duty_is_now_when_on_duty_now(weekday_peer: User) -> None:
    at = utc(f"{MONDAY}T10:15")
    assert next_on_duty(weekday_peer, at) == at


def test_next_on_duty_after_hours_is_the_next_mornings_start(weekday_peer: User) -> None:
    assert next_on_duty(weekday_peer, utc(f"{MONDAY}T18:00")) == utc("2026-06-09T09:00")


def test_next_on_duty_skips_the_weekend(weekday_peer: User) -> None:
    # Friday evening: back on Monday.
    assert next_on_duty(weekday_peer, utc("2026-06-12T17:30")) == utc("2026-06-15T09:00")


def test_next_on_duty_skips_a_day_of_leave(weekday_peer: User) -> None:
    _leave(weekday_peer, "2026-06-09T00:00", "2026-06-10T00:00")
    assert next_on_duty(weekday_peer, utc(f"{MONDAY}T18:00")) == utc("2026-06-10T09:00")


def test_next_on_duty_is_the_end_of_leave_inside_working_hours(weekday_peer: User) -> None:
    _leave(weekday_peer, f"{MONDAY}T08:00", f"{MONDAY}T12:30")
    assert next_on_duty(weekday_peer, utc(f"{MONDAY}T10:00")) == utc(f"{MONDAY}T12:30")


def test_next_on_duty_follows_back_to_back_leave(weekday_peer: User) -> None:
    _leave(weekday_peer, f"{MONDAY}T08:00", f"{MONDAY}T11:00")
    _leave(weekday_peer, f"{MONDAY}T10:00", f"{MONDAY}T13:00")
    assert next_on_duty(weekday_peer, utc(f"{MONDAY}T09:00")) == utc(f"{MONDAY}T13:00")


def test_next_on_duty_finds_work_on_the_last_day_of_the_lookahead(peer: User) -> None:
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "UTC")
    start = utc(f"{MONDAY}T00:00")
    back = start + dt.timedelta(days=LOOKAHEAD_DAYS - 1)
    record_leave(user=peer, starts_at=start, ends_at=back, recorded_by=None)
    assert next_on_duty(peer, start) == back + dt.timedelta(hours=9)


def test_next_on_duty_is_none_past_the_lookahead(peer: User) -> None:
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "UTC")
    start = utc(f"{MONDAY}T00:00")
    back = start + dt.timedelta(days=LOOKAHEAD_DAYS)
    record_leave(user=peer, starts_at=start, ends_at=back, recorded_by=None)
    assert next_on_duty(peer, start) is None


def test_next_on_duty_is_none_without_working_hours(peer: User) -> None:
    with_hours(peer, {}, "UTC")
    assert next_on_duty(peer, utc(f"{MONDAY}T10:00")) is None


def test_next_on_duty_is_none_without_a_profile(db: None) -> None:
    assert next_on_duty(User.objects.create_user(username="no-profile"), utc(MONDAY)) is None


def test_next_on_duty_includes_a_night_shift_begun_yesterday(peer: User) -> None:
    with_hours(peer, hours("sun", "22:00", "06:00"), "UTC")
    at = utc(f"{MONDAY}T03:00")
    assert next_on_duty(peer, at) == at


def test_recording_the_same_leave_twice_is_one_leave(weekday_peer: User) -> None:
    first = _leave(weekday_peer, f"{MONDAY}T12:00", f"{MONDAY}T14:00")
    again = _leave(weekday_peer, f"{MONDAY}T12:00", f"{MONDAY}T14:00")
    assert again.pk == first.pk
    assert AuditEntry.objects.filter(action="availability.leave_recorded").count() == 1


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "code"),
    [
        (dt.datetime(2026, 6, 8, 12), dt.datetime(2026, 6, 8, 14), "time_without_offset"),
        (utc("2026-06-08T12:00"), dt.datetime(2026, 6, 8, 14), "time_without_offset"),
        (utc("2026-06-08T14:00"), utc("2026-06-08T12:00"), "invalid_period"),
        (utc("2026-06-08T12:00"), utc("2026-06-08T12:00"), "invalid_period"),
        (utc("2026-06-08T12:00"), utc("2027-06-10T12:00"), "invalid_period"),
    ],
    ids=["naive", "naive-end", "end-before-start", "empty", "over-a-year"],
)
def test_a_bad_period_is_refused_and_writes_nothing(
    peer: User, starts_at: dt.datetime, ends_at: dt.datetime, code: str
) -> None:
    before = _counts()
    with pytest.raises(DomainError) as excinfo:
        record_leave(user=peer, starts_at=starts_at, ends_at=ends_at, recorded_by=None)
    assert excinfo.value.code == code
    assert _counts() == before


def test_cancelled_leave_no_longer_overrides_working_hours(weekday_peer: User) -> None:
    with time_machine.travel(utc(f"{MONDAY}T06:00"), tick=False):
        leave = _leave(weekday_peer, f"{MONDAY}T12:00", f"{MONDAY}T14:00")
        cancel_leave(leave=leave, cancelled_by=weekday_peer)
    assert peer_on_duty(weekday_peer, utc(f"{MONDAY}T13:00"))
    entry = AuditEntry.objects.get(action="availability.leave_cancelled")
    assert entry.details == {"user": weekday_peer.pk}


def test_leave_that_has_ended_cannot_be_cancelled(weekday_peer: User) -> None:
    leave = _leave(weekday_peer, f"{MONDAY}T12:00", f"{MONDAY}T14:00")
    before = _counts()
    with (
        time_machine.travel(utc(f"{MONDAY}T14:00"), tick=False),
        pytest.raises(Conflict) as excinfo,
    ):
        cancel_leave(leave=leave, cancelled_by=weekday_peer)
    assert excinfo.value.code == "leave_ended"
    assert _counts() == before
