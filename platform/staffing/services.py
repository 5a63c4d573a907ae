"""Writes for staff availability: working hours, leave, the on-call rota, escalation phones."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from access.permissions import has_role
from audit.services import record
from encryption.models import DataKeyPurpose
from encryption.services import FieldRef, create_data_key, decrypt, encrypt
from peerlink.errors import Conflict, DomainError
from people.models import User
from people.services import normalise_phone, validate_time_zone
from programmes.models import PeerSupporterProfile, Programme, Role
from staffing.availability import WEEKDAYS, parse_clock
from staffing.models import Leave, OnCallShift, StaffContact

# Leave and shifts are planned weeks ahead, not years: a typo in a year is refused.
MAX_SPAN = dt.timedelta(days=366)
MAX_LEVEL = 5


def _invalid_hours() -> DomainError:
    return DomainError(
        "invalid_working_hours",
        'Working hours are {"mon": ["09:00", "17:00"], ...}: weekday keys mon to sun, each '
        "with a start and an end from 00:00 to 24:00 that differ.",
    )


def validate_working_hours(hours: object) -> dict[str, list[str]]:
    if not isinstance(hours, dict) or not set(hours) <= set(WEEKDAYS):
        raise _invalid_hours()
    clean: dict[str, list[str]] = {}
    for day, span in hours.items():
        if not (
            isinstance(span, list | tuple)
            and len(span) == 2
            and all(isinstance(part, str) for part in span)
        ):
            raise _invalid_hours()
        try:
            start, end = parse_clock(span[0]), parse_clock(span[1])
        except ValueError:
            raise _invalid_hours() from None
        if start == end or start == (24, 0):
            raise _invalid_hours()
        clean[day] = [span[0], span[1]]
    return clean


@transaction.atomic
def set_working_hours(
    *, user: User, working_hours: object, time_zone: str, changed_by: User | None
) -> PeerSupporterProfile:
    hours = validate_working_hours(working_hours)
    validate_time_zone(time_zone)
    profile, _ = PeerSupporterProfile.objects.select_for_update().get_or_create(user=user)
    profile.working_hours = hours
    profile.time_zone = time_zone
    profile.save(update_fields=["working_hours", "time_zone"])
    record(
        action="availability.hours_set",
        actor=changed_by,
        target=user,
        details={"days": sorted(hours), "time_zone": time_zone},
    )
    return profile


def _check_span(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        # A time without an offset would be read in the server's zone, not the person's.
        raise DomainError("time_without_offset", "Give times with their UTC offset.")
    if ends_at <= starts_at:
        raise DomainError("invalid_period", "The end must be after the start.")
    if ends_at - starts_at > MAX_SPAN:
        raise DomainError("invalid_period", "A period lasts at most a year.")


@transaction.atomic
def record_leave(
    *, user: User, starts_at: dt.datetime, ends_at: dt.datetime, recorded_by: User | None
) -> Leave:
    """Idempotent on (user, start, end): the same leave twice is one leave."""
    _check_span(starts_at, ends_at)
    leave, created = Leave.objects.get_or_create(
        user=user, starts_at=starts_at, ends_at=ends_at, defaults={"recorded_by": recorded_by}
    )
    if created:
        record(action="availability.leave_recorded", actor=recorded_by, target=leave, details={})
    return leave


@transaction.atomic
def cancel_leave(*, leave: Leave, cancelled_by: User | None) -> None:
    """Cancel leave that has not ended yet; leave already taken stays on record."""
    leave = Leave.objects.select_for_update().get(pk=leave.pk)
    if leave.ends_at <= timezone.now():
        raise Conflict("leave_ended", "Leave that has ended can't be cancelled.")
    record(
        action="availability.leave_cancelled",
        actor=cancelled_by,
        target=leave,
        details={"user": leave.user_id},
    )
    Leave.objects.filter(pk=leave.pk).delete()


@transaction.atomic
def add_on_call_shift(
    *,
    programme: Programme,
    supervisor: User,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    level: int = 1,
    created_by: User | None,
) -> OnCallShift:
    """Idempotent on (programme, supervisor, level, start)."""
    _check_span(starts_at, ends_at)
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
        raise DomainError("invalid_level", f"An on-call level is 1 to {MAX_LEVEL}.")
    if not has_role(supervisor, programme, Role.SUPERVISOR):
        raise DomainError("not_a_supervisor", "Only supervisors of the programme go on call.")
    shift, created = OnCallShift.objects.get_or_create(
        programme=programme,
        supervisor=supervisor,
        level=level,
        starts_at=starts_at,
        defaults={"ends_at": ends_at, "created_by": created_by},
    )
    if not created and shift.ends_at != ends_at:
        raise Conflict(
            "shift_exists", "This supervisor already has a shift at this level from this time."
        )
    if created:
        record(
            action="on_call.shift_added",
            actor=created_by,
            target=shift,
            details={"programme": programme.slug, "supervisor": supervisor.pk, "level": level},
        )
    return shift


def contact_ref(user_id: int) -> FieldRef:
    # Bound to the user, not the row id: the row is written in the same statement as the
    # ciphertext, so its id is not known yet.
    return FieldRef(table="staffing_staffcontact", row=str(user_id), field="phone")


@transaction.atomic
def set_staff_phone(*, user: User, phone: str, changed_by: User | None) -> StaffContact:
    e164 = normalise_phone(phone)
    contact = StaffContact.objects.select_for_update().filter(user=user).first()
    if contact is None:
        data_key = create_data_key(purpose=DataKeyPurpose.PERSON)
        contact = StaffContact(user=user, data_key=data_key)
    contact.phone_ciphertext = encrypt(
        data_key=contact.data_key, plaintext=e164, ref=contact_ref(user.pk)
    )
    contact.save()
    record(action="staff_contact.phone_set", actor=changed_by, target=user, details={})
    return contact


def staff_phone(user_id: int) -> str | None:
    """The staff member's escalation number, decrypted, or None when they gave none."""
    contact = StaffContact.objects.select_related("data_key").filter(user_id=user_id).first()
    if contact is None:
        return None
    return decrypt(
        data_key=contact.data_key,
        ciphertext=bytes(contact.phone_ciphertext),
        ref=contact_ref(user_id),
    )
