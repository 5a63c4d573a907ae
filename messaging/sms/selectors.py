"""Reads for the SMS channel: the outbox rows due for the sweeper, the intake supervisors
see."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from access.permissions import AnyUser, programmes_with_role
from encryption.services import DecryptionError, decrypt
from messaging.models import OutboxStatus, SmsIntake, SmsOutbox
from messaging.sms.intake import intake_field_ref
from people.selectors import mask_phone
from programmes.models import Role

INTAKE_PAGE_MAX = 200


def due_outbox_ids(*, limit: int = 500) -> list[int]:
    """Rows the sweeper rings for: retries that are due, rows whose first doorbell seems lost
    (pending for longer than the grace period), and sends whose lease ran out."""
    now = timezone.now()
    grace = dt.timedelta(seconds=settings.SMS_SWEEP_GRACE_SECONDS)
    lease = dt.timedelta(seconds=settings.SMS_SENDING_LEASE_SECONDS)
    due = (
        Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        | Q(status=OutboxStatus.PENDING, next_attempt_at__isnull=True, created_at__lte=now - grace)
        | Q(status=OutboxStatus.SENDING, claimed_at__lte=now - lease)
    )
    # Oldest due first, by when each became due: one row that keeps failing can't hold the
    # head of the queue for the rest.
    became_due = Coalesce("next_attempt_at", "claimed_at", "created_at")
    return list(
        SmsOutbox.objects.filter(due)
        .order_by(became_due.asc(), "pk")
        .values_list("pk", flat=True)[:limit]
    )


def visible_intake(user: AnyUser) -> QuerySet[SmsIntake]:
    """Entries of the programmes where the user is a supervisor or programme admin, and the
    entries no programme's number took (the service's shared intake)."""
    programmes = programmes_with_role(user, Role.SUPERVISOR, Role.ADMIN)
    if not user.is_authenticated or not programmes.exists():
        return SmsIntake.objects.none()
    return SmsIntake.objects.filter(Q(programme__in=programmes) | Q(programme__isnull=True))


class NumberRule:
    """Who sees a whole phone number (README, API): admins of the entry's programme, and for
    entries no programme took, admins of any programme; supervisors see a masked one."""

    def __init__(self, user: AnyUser) -> None:
        self.admin_of = set(programmes_with_role(user, Role.ADMIN).values_list("pk", flat=True))

    def full_phone(self, entry: SmsIntake) -> bool:
        if entry.programme_id is None:
            return bool(self.admin_of)
        return entry.programme_id in self.admin_of


def intake_list(user: AnyUser, *, include_resolved: bool) -> list[dict[str, Any]]:
    entries = visible_intake(user).select_related("data_key", "programme", "resolved_by")
    if not include_resolved:
        entries = entries.filter(resolved_at__isnull=True)
    rule = NumberRule(user)
    rows = entries.order_by("-received_at", "pk")[:INTAKE_PAGE_MAX]
    return [intake_payload(entry, full_phone=rule.full_phone(entry)) for entry in rows]


def intake_payload(entry: SmsIntake, *, full_phone: bool) -> dict[str, Any]:
    """One entry. An erased one (its data key destroyed) shows neither number nor text, and
    does not take the rest of the list down with it."""
    try:
        phone = decrypt(
            data_key=entry.data_key,
            ciphertext=entry.phone_ciphertext,
            ref=intake_field_ref(entry.pk, "phone"),
        )
        body: str | None = decrypt(
            data_key=entry.data_key,
            ciphertext=entry.body_ciphertext,
            ref=intake_field_ref(entry.pk, "body"),
        )
    except DecryptionError:
        phone, body = "", None
    return {
        "id": str(entry.pk),
        "programme": entry.programme.slug if entry.programme is not None else None,
        "reason": entry.reason,
        "participant": str(entry.participant_id) if entry.participant_id else None,
        "phone": (phone if full_phone else mask_phone(phone)) if phone else None,
        "body": body,
        "erased": body is None,
        "received_at": entry.received_at.isoformat(),
        "resolved_at": entry.resolved_at.isoformat() if entry.resolved_at else None,
        "resolved_by": entry.resolved_by_id,
    }
