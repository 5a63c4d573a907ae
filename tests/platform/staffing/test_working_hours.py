"""Working hours in the peer supporter's own time zone: windows past midnight, "24:00", days
off, and DST changes that move the hours with the wall clock (America/Edmonton changes on
2026-03-08 and 2026-11-01, Europe/London on 2026-03-29 and 2026-10-25)."""

from __future__ import annotations

import datetime as dt

import pytest

from people.models import User
from programmes.models import PeerSupporterProfile, Programme, Role
from staffing.availability import on_duty_peer_ids, peer_on_duty
from staffing.services import record_leave
from tests.platform.staffing.helpers import EVERY_DAY, hours, utc, with_hours
from tests.support.factories import make_staff

pytestmark = pytest.mark.django_db


def test_a_window_that_ends_before_it_starts_runs_past_midnight(peer: User) -> None:
    with_hours(peer, hours("fri", "22:00", "06:00"), "UTC")
    # 2026-06-05 is a Friday.
    assert not peer_on_duty(peer, utc("2026-06-05T21:59"))
    assert peer_on_duty(peer, utc("2026-06-05T22:00"))
    assert peer_on_duty(peer, utc("2026-06-06T03:00"))
    assert peer_on_duty(peer, utc("2026-06-06T05:59"))
    assert not peer_on_duty(peer, utc("2026-06-06T06:00"))


def test_the_night_after_a_day_off_is_not_worked(peer: User) -> None:
    with_hours(peer, hours("fri", "22:00", "06:00"), "UTC")
    # Thursday night is not Friday's window: early Friday morning is off.
    assert not peer_on_duty(peer, utc("2026-06-05T03:00"))


def test_24_00_ends_a_window_at_midnight(peer: User) -> None:
    with_hours(peer, hours("mon", "18:00", "24:00"), "UTC")
    # 2026-06-08 is a Monday.
    assert peer_on_duty(peer, utc("2026-06-08T23:59"))
    assert not peer_on_duty(peer, utc("2026-06-09T00:00"))


def test_the_start_is_inclusive_and_the_end_exclusive(peer: User) -> None:
    with_hours(peer, hours("mon", "09:00", "17:00"), "UTC")
    assert peer_on_duty(peer, utc("2026-06-08T09:00"))
    assert not peer_on_duty(peer, utc("2026-06-08T17:00"))


def test_days_absent_are_days_off(peer: User) -> None:
    with_hours(peer, hours("mon", "09:00", "17:00"), "UTC")
    assert not peer_on_duty(peer, utc("2026-06-09T12:00"))


def test_hours_are_read_in_the_profiles_time_zone(peer: User) -> None:
    with_hours(peer, hours("mon", "09:00", "17:00"), "America/Edmonton")
    # 09:00 in Edmonton in June is 15:00 UTC (MDT, UTC-6).
    assert not peer_on_duty(peer, utc("2026-06-08T14:59"))
    assert peer_on_duty(peer, utc("2026-06-08T15:00"))
    assert peer_on_duty(peer, utc("2026-06-08T22:59"))
    assert not peer_on_duty(peer, utc("2026-06-08T23:00"))


def test_someone_without_a_profile_is_never_on_duty(programme: Programme) -> None:
    nobody = User.objects.create_user(username="no-profile")
    assert not peer_on_duty(nobody, utc("2026-06-08T12:00"))


@pytest.mark.parametrize(
    ("local_day", "start_utc", "end_utc"),
    [
        # Saturday before spring forward: MST, UTC-7.
        ("2026-03-07", "2026-03-07T16:00", "2026-03-08T00:00"),
        # The day of the change (02:00 -> 03:00) and the day after: MDT, UTC-6.
        ("2026-03-08", "2026-03-08T15:00", "2026-03-08T23:00"),
        ("2026-03-09", "2026-03-09T15:00", "2026-03-09T23:00"),
    ],
)
def test_edmonton_spring_forward_keeps_the_shift_at_nine_local(
    peer: User, local_day: str, start_utc: str, end_utc: str
) -> None:
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "America/Edmonton")
    _assert_window(peer, start_utc, end_utc)


@pytest.mark.parametrize(
    ("local_day", "start_utc", "end_utc"),
    [
        # Saturday before falling back: MDT, UTC-6.
        ("2026-10-31", "2026-10-31T15:00", "2026-10-31T23:00"),
        # The day of the change (02:00 -> 01:00) and the day after: MST, UTC-7.
        ("2026-11-01", "2026-11-01T16:00", "2026-11-02T00:00"),
        ("2026-11-02", "2026-11-02T16:00", "2026-11-03T00:00"),
    ],
)
def test_edmonton_fall_back_keeps_the_shift_at_nine_local(
    peer: User, local_day: str, start_utc: str, end_utc: str
) -> None:
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "America/Edmonton")
    _assert_window(peer, start_utc, end_utc)


@pytest.mark.parametrize(
    ("local_day", "start_utc", "end_utc"),
    [
        ("2026-03-28", "2026-03-28T09:00", "2026-03-28T17:00"),  # GMT
        ("2026-03-29", "2026-03-29T08:00", "2026-03-29T16:00"),  # BST from 01:00 GMT
        ("2026-10-24", "2026-10-24T08:00", "2026-10-24T16:00"),  # BST
        ("2026-10-25", "2026-10-25T09:00", "2026-10-25T17:00"),  # GMT from 02:00 BST
    ],
)
def test_london_changes_keep_the_shift_at_nine_local(
    peer: User, local_day: str, start_utc: str, end_utc: str
) -> None:
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "Europe/London")
    _assert_window(peer, start_utc, end_utc)


def test_a_night_shift_over_spring_forward_is_an_hour_shorter(peer: User) -> None:
    # Saturday 22:00 MST (05:00 UTC) to Sunday 06:00 MDT (12:00 UTC): seven hours worked.
    with_hours(peer, hours("sat", "22:00", "06:00"), "America/Edmonton")
    _assert_window(peer, "2026-03-08T05:00", "2026-03-08T12:00")


def test_a_night_shift_over_fall_back_is_an_hour_longer(peer: User) -> None:
    # Saturday 22:00 MDT (04:00 UTC) to Sunday 06:00 MST (13:00 UTC): nine hours worked.
    with_hours(peer, hours("sat", "22:00", "06:00"), "America/Edmonton")
    _assert_window(peer, "2026-11-01T04:00", "2026-11-01T13:00")


def test_a_start_inside_the_spring_gap_begins_as_far_past_it(peer: User) -> None:
    # 02:30 does not exist on 2026-03-08 in Edmonton: it is read with the offset before the
    # change (MST), which is 03:30 MDT, 09:30 UTC.
    with_hours(peer, hours("sun", "02:30", "04:00"), "America/Edmonton")
    _assert_window(peer, "2026-03-08T09:30", "2026-03-08T10:00")


def test_a_start_in_the_repeated_hour_takes_its_first_occurrence(peer: User) -> None:
    # 01:30 happens twice on 2026-11-01 in Edmonton; the first (MDT) is 07:30 UTC.
    with_hours(peer, hours("sun", "01:30", "03:00"), "America/Edmonton")
    _assert_window(peer, "2026-11-01T07:30", "2026-11-01T10:00")


def test_the_bulk_check_agrees_with_the_single_one(peer: User, programme: Programme) -> None:
    other = make_staff(programme, Role.PEER_SUPPORTER)
    with_hours(peer, hours(EVERY_DAY, "09:00", "17:00"), "America/Edmonton")
    with_hours(other, hours(EVERY_DAY, "22:00", "06:00"), "Europe/London")
    record_leave(
        user=other,
        starts_at=utc("2026-03-29T02:00"),
        ends_at=utc("2026-03-29T04:00"),
        recorded_by=None,
    )
    profiles = list(PeerSupporterProfile.objects.filter(user__in=[peer, other]))
    for step in range(96):
        at = utc("2026-03-28T00:00") + step * dt.timedelta(minutes=30)
        expected = {user.pk for user in (peer, other) if peer_on_duty(user, at)}
        assert on_duty_peer_ids(profiles, at) == expected


def _assert_window(peer: User, start_utc: str, end_utc: str) -> None:
    start, end = utc(start_utc), utc(end_utc)
    minute = dt.timedelta(minutes=1)
    assert not peer_on_duty(peer, start - minute)
    assert peer_on_duty(peer, start)
    assert peer_on_duty(peer, end - minute)
    assert not peer_on_duty(peer, end)
