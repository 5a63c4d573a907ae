"""Reads for people. Decryption happens here, only for callers already allowed to see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from encryption.services import decrypt
from people.models import ConsentKind, ConsentRecord, Participant, User
from people.services import participant_field_ref


@dataclass(frozen=True)
class ParticipantProfile:
    name: str
    phone: str


def participant_profile(participant: Participant) -> ParticipantProfile:
    key = participant.data_key
    return ParticipantProfile(
        name=decrypt(
            data_key=key,
            ciphertext=participant.name_ciphertext,
            ref=participant_field_ref(participant.id, "name"),
        ),
        phone=decrypt(
            data_key=key,
            ciphertext=participant.phone_ciphertext,
            ref=participant_field_ref(participant.id, "phone"),
        ),
    )


def staff_display_name(user: User) -> str:
    """How staff appear to others: first name (peer supporters often give only that)."""
    return user.first_name or user.get_username()


def mask_phone(e164: str) -> str:
    return e164[:3] + "*" * max(len(e164) - 5, 0) + e164[-2:]


def sms_allowed(participant: Participant) -> bool:
    """SMS may be sent only under an active, unwithdrawn SMS consent (STOP withdraws it)."""
    return _active_sms_consents().filter(participant=participant).exists()


def sms_allowed_ids(participant_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """`sms_allowed` for many people in one query."""
    return set(
        _active_sms_consents()
        .filter(participant_id__in=list(participant_ids))
        .values_list("participant_id", flat=True)
    )


def _active_sms_consents() -> QuerySet[ConsentRecord]:
    return ConsentRecord.objects.filter(
        kind=ConsentKind.SMS, programme__isnull=True, withdrawn_at__isnull=True
    )


def find_participant_by_phone(e164: str) -> Participant | None:
    from encryption.services import blind_index

    return (
        Participant.objects.select_related("user", "data_key")
        .filter(phone_index=blind_index(e164))
        .first()
    )
