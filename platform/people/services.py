"""Writes for people: service users' encrypted profiles and their consent records."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import TYPE_CHECKING

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from encryption.models import DataKeyPurpose
from encryption.services import FieldRef, blind_index, create_data_key, encrypt
from peerlink.errors import Conflict, DomainError
from people.models import Channel, ConsentKind, ConsentRecord, ConsentSource, Participant, User

if TYPE_CHECKING:
    from programmes.models import Programme

NAME_MAX_LENGTH = 200

# Sent with `participant` inside the transaction when their time zone or quiet hours change:
# scheduled sends are computed from them and replan (scheduling/receivers.py).
timing_preferences_changed = Signal()


def normalise_phone(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of a phone number, or a DomainError that never repeats the input."""
    try:
        number = phonenumbers.parse(raw, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise DomainError("invalid_phone", "The phone number could not be read.") from None
    if not phonenumbers.is_valid_number(number):
        raise DomainError("invalid_phone", "The phone number is not a valid number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def strict_e164(raw: str) -> str | None:
    """The number in E.164, or None for anything else (short codes, alphanumeric senders,
    channel addresses such as `whatsapp:+1...`, malformed numbers)."""
    if not raw.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if e164 == raw else None


def validate_time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            "invalid_time_zone", "Use an IANA time zone such as America/Edmonton."
        ) from None
    return name


def phone_index(raw: str) -> str:
    return blind_index(normalise_phone(raw))


def participant_field_ref(participant_id: uuid.UUID, field: str) -> FieldRef:
    return FieldRef(table="people_participant", row=str(participant_id), field=field)


@transaction.atomic
def create_participant(
    *,
    name: str,
    phone: str,
    language: str,
    time_zone: str,
    preferred_channel: str = Channel.SMS,
    quiet_hours_start: dt.time | None = None,
    quiet_hours_end: dt.time | None = None,
) -> Participant:
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise DomainError("invalid_name", f"A name of 1 to {NAME_MAX_LENGTH} characters is needed.")
    e164 = normalise_phone(phone)
    validate_time_zone(time_zone)
    if preferred_channel not in Channel.values:
        raise DomainError("invalid_channel", "The preferred channel must be web or sms.")
    index = blind_index(e164)
    if Participant.objects.filter(phone_index=index).exists():
        raise Conflict("phone_in_use", "A participant with this phone number already exists.")
    participant_id = uuid.uuid4()
    user = User.objects.create_user(username=f"p-{participant_id.hex[:16]}")
    user.set_unusable_password()
    user.save(update_fields=["password"])
    data_key = create_data_key(purpose=DataKeyPurpose.PERSON)
    participant = Participant(
        id=participant_id,
        user=user,
        data_key=data_key,
        name_ciphertext=encrypt(
            data_key=data_key, plaintext=name, ref=participant_field_ref(participant_id, "name")
        ),
        phone_ciphertext=encrypt(
            data_key=data_key, plaintext=e164, ref=participant_field_ref(participant_id, "phone")
        ),
        phone_index=index,
        language=language,
        time_zone=time_zone,
        preferred_channel=preferred_channel,
    )
    if quiet_hours_start is not None:
        participant.quiet_hours_start = quiet_hours_start
    if quiet_hours_end is not None:
        participant.quiet_hours_end = quiet_hours_end
    participant.save(force_insert=True)
    return participant


@transaction.atomic
def grant_consent(
    *,
    participant: Participant,
    kind: str,
    version: str,
    source: str,
    programme: Programme | None = None,
    recorded_by: User | None = None,
) -> ConsentRecord:
    """Idempotent: the same active grant is returned; a new version supersedes the old one."""
    if kind not in ConsentKind.values or source not in ConsentSource.values or not version:
        raise DomainError("invalid_consent", "Unknown consent kind, source or empty version.")
    active = (
        ConsentRecord.objects.select_for_update()
        .filter(participant=participant, programme=programme, kind=kind, withdrawn_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if active is not None:
        if active.version == version:
            return active
        active.withdrawn_at = now
        active.withdrawn_source = source
        active.save(update_fields=["withdrawn_at", "withdrawn_source"])
    return ConsentRecord.objects.create(
        participant=participant,
        programme=programme,
        kind=kind,
        version=version,
        granted_at=now,
        granted_source=source,
        recorded_by=recorded_by,
    )


@transaction.atomic
def withdraw_consent(
    *, participant: Participant, kind: str, source: str, programme: Programme | None = None
) -> int:
    """Close every active grant of this kind; returns how many were open (0: already withdrawn)."""
    return ConsentRecord.objects.filter(
        participant=participant, programme=programme, kind=kind, withdrawn_at__isnull=True
    ).update(withdrawn_at=timezone.now(), withdrawn_source=source)


@transaction.atomic
def update_timing_preferences(
    *,
    participant: Participant,
    changed_by: User | None,
    time_zone: str | None = None,
    quiet_hours_start: dt.time | None = None,
    quiet_hours_end: dt.time | None = None,
) -> Participant:
    """Change the person's time zone or quiet hours (audited, without the values: a time zone
    says where someone lives). Scheduled texts are replanned in the same transaction."""
    from audit.services import record

    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    changes: dict[str, object] = {}
    if time_zone is not None:
        changes["time_zone"] = validate_time_zone(time_zone)
    if quiet_hours_start is not None:
        changes["quiet_hours_start"] = quiet_hours_start
    if quiet_hours_end is not None:
        changes["quiet_hours_end"] = quiet_hours_end
    changed = [f for f, v in changes.items() if getattr(participant, f) != v]
    if not changed:
        return participant
    for field in changed:
        setattr(participant, field, changes[field])
    participant.save(update_fields=changed)
    timing_preferences_changed.send(sender=Participant, participant=participant)
    # Last: the audit chain's lock is held from here to the commit.
    record(
        action="participant.timing_changed",
        actor=changed_by,
        target=participant,
        details={"fields": sorted(changed)},
    )
    return participant
