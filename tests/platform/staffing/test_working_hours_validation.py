"""Setting working hours: every malformed shape is refused with `invalid_working_hours` (and
an unknown zone with `invalid_time_zone`) and changes nothing; what is accepted always gives
windows that end after they start and last at most a day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from peerlink.errors import DomainError
from people.models import User
from programmes.models import PeerSupporterProfile
from staffing.availability import WEEKDAYS, working_windows
from staffing.services import set_working_hours, validate_working_hours
from tests.platform.staffing.helpers import utc

pytestmark = pytest.mark.django_db

BAD_SHAPES: list[Any] = [
    None,
    [],
    "mon 09:00-17:00",
    {"monday": ["09:00", "17:00"]},
    {"Mon": ["09:00", "17:00"]},
    {"mon": "09:00-17:00"},
    {"mon": ["09:00"]},
    {"mon": ["09:00", "12:00", "17:00"]},
    {"mon": [9, 17]},
    {"mon": None},
    {"mon": {"start": "09:00", "end": "17:00"}},
    {"mon": ["9:00", "17:00"]},
    {"mon": [" 9:00", "17:00"]},
    {"mon": ["+9:00", "17:00"]},
    {"mon": ["-0:00", "17:00"]},
    {"mon": ["\u0660\u0669:00", "17:00"]},
    {"mon": ["09:00:00", "17:00"]},
    {"mon": ["09h00", "17:00"]},
    {"mon": ["09:60", "17:00"]},
    {"mon": ["25:00", "26:00"]},
    {"mon": ["24:30", "06:00"]},
    {"mon": ["24:00", "06:00"]},
    {"mon": ["09:00", "09:00"]},
    {"mon": ["00:00", "00:00"]},
    {"mon": ["09:00\n", "17:00"]},
]


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=[repr(s)[:40] for s in BAD_SHAPES])
def test_a_malformed_shape_is_refused_and_changes_nothing(peer: User, shape: Any) -> None:
    before = _snapshot(peer)
    with pytest.raises(DomainError) as excinfo:
        set_working_hours(user=peer, working_hours=shape, time_zone="UTC", changed_by=None)
    assert excinfo.value.code == "invalid_working_hours"
    assert _snapshot(peer) == before


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "../../etc/passwd", "UTC+2", "utc "])
def test_an_unknown_time_zone_is_refused_and_changes_nothing(peer: User, zone: str) -> None:
    before = _snapshot(peer)
    with pytest.raises(DomainError) as excinfo:
        set_working_hours(
            user=peer, working_hours={"mon": ["09:00", "17:00"]}, time_zone=zone, changed_by=None
        )
    assert excinfo.value.code == "invalid_time_zone"
    assert _snapshot(peer) == before


def test_setting_hours_replaces_them_and_is_audited_without_the_times(peer: User) -> None:
    set_working_hours(
        user=peer,
        working_hours={"sat": ["22:00", "06:00"], "sun": ["10:00", "24:00"]},
        time_zone="Europe/London",
        changed_by=peer,
    )
    profile = PeerSupporterProfile.objects.get(user=peer)
    assert profile.working_hours == {"sat": ["22:00", "06:00"], "sun": ["10:00", "24:00"]}
    assert profile.time_zone == "Europe/London"
    entry = AuditEntry.objects.filter(action="availability.hours_set").latest("id")
    assert entry.details == {"days": ["sat", "sun"], "time_zone": "Europe/London"}


def test_no_working_hours_at_all_is_a_valid_choice() -> None:
    assert validate_working_hours({}) == {}


clock_text = st.one_of(
    st.text(max_size=7),
    st.builds(
        lambda h, m: f"{h:02d}:{m:02d}", st.integers(min_value=0, max_value=30), st.integers(0, 70)
    ),
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
near_valid = st.dictionaries(
    st.sampled_from([*WEEKDAYS, "MON", "monday", ""]),
    st.one_of(st.lists(clock_text, min_size=0, max_size=3), json_value),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(shape=st.one_of(json_value, near_valid))
def test_any_shape_is_either_refused_with_the_code_or_gives_sound_windows(shape: Any) -> None:
    clean = _validated_or_none(shape)
    if clean is None:
        return
    windows = list(
        working_windows(clean, "America/Edmonton", first_day=dt.date(2026, 3, 1), days=14)
    )
    assert len(windows) == 2 * len(clean)
    for window in windows:
        assert window.starts_at < window.ends_at
        # 25 hours: a night shift over the autumn change is an hour longer than the clock says.
        assert window.ends_at - window.starts_at <= dt.timedelta(hours=25)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(shape=near_valid)
def test_the_api_refuses_a_bad_shape_with_the_code_and_writes_nothing(
    peer: User, shape: Any
) -> None:
    from tests.support.factories import signed_in_client

    if _validated_or_none(shape) is not None:
        return  # valid shapes are covered elsewhere
    before = _snapshot(peer)
    response = signed_in_client(peer).put(
        "/api/v1/me/availability/",
        {"time_zone": "UTC", "working_hours": shape},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_working_hours"
    assert _snapshot(peer) == before


def test_parsed_times_are_the_clock_on_the_wall() -> None:
    clean = validate_working_hours({"sun": ["09:00", "17:00"]})
    (window,) = working_windows(clean, "UTC", first_day=dt.date(2026, 6, 7), days=1)
    assert (window.starts_at, window.ends_at) == (utc("2026-06-07T09:00"), utc("2026-06-07T17:00"))


def _validated_or_none(shape: Any) -> dict[str, list[str]] | None:
    """The clean hours, or None when refused, after checking that a refusal carries the code
    (and that nothing but DomainError escapes)."""
    try:
        return validate_working_hours(shape)
    except DomainError as exc:
        code = exc.code
    assert code == "invalid_working_hours"
    return None


def _snapshot(user: User) -> tuple[Any, ...]:
    profile = PeerSupporterProfile.objects.get(user=user)
    return (profile.working_hours, profile.time_zone, AuditEntry.objects.count())
