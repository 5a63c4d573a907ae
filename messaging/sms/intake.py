"""Texts no conversation can take (intake): from unknown numbers, and from people without an
open conversation. Kept, encrypted, for supervisors; answered once a day at most."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from encryption.models import DataKeyPurpose
from encryption.services import FieldRef, blind_index, create_data_key, encrypt
from messaging.models import (
    InboundSms,
    IntakeReason,
    OutboxPurpose,
    OutboxTemplate,
    SmsIntake,
)
from messaging.sms import texts
from messaging.sms.outbox import queue_sms, queued_recently
from peerlink.errors import NotFound
from people.models import Participant, User
from programmes.models import Enrolment, Programme


def intake_field_ref(intake_id: uuid.UUID | str, field: str) -> FieldRef:
    return FieldRef(table="messaging_smsintake", row=str(intake_id), field=field)


def record_intake(
    *,
    inbound: InboundSms,
    reason: str,
    phone: str,
    body: str,
    programme: Programme | None,
    participant: Participant | None = None,
    enrolment: Enrolment | None = None,
    reply: bool = True,
) -> SmsIntake:
    """Keep the text for supervisors and (unless `reply` is off), at most once a day per
    number, reply: to an unknown number the polite reply (when configured), to a person
    without a peer supporter where their texts go and where to get help. Call inside the
    inbound webhook's transaction."""
    now = timezone.now()
    intake_id = uuid.uuid4()
    data_key = create_data_key(purpose=DataKeyPurpose.INTAKE)
    index = blind_index(phone)
    intake = SmsIntake(
        id=intake_id,
        programme=programme,
        participant=participant,
        reason=reason,
        inbound=inbound,
        data_key=data_key,
        phone_ciphertext=encrypt(
            data_key=data_key, plaintext=phone, ref=intake_field_ref(intake_id, "phone")
        ),
        phone_index=index,
        body_ciphertext=encrypt(
            data_key=data_key, plaintext=body, ref=intake_field_ref(intake_id, "body")
        ),
        received_at=now,
    )
    intake.save(force_insert=True)
    from messaging.risk.services import screen_intake_text

    if screen_intake_text(intake=intake, enrolment=enrolment, body=body) is not None:
        return intake  # the crisis reply (rate-limited) has been queued instead
    if not reply or queued_recently(
        purpose=OutboxPurpose.INTAKE_REPLY,
        seconds=settings.SMS_INTAKE_REPLY_INTERVAL_SECONDS,
        phone_index=index,
    ):
        return intake
    if participant is not None:
        queue_sms(
            participant=participant,
            purpose=OutboxPurpose.INTAKE_REPLY,
            template=OutboxTemplate.NO_CONVERSATION,
            programme=programme,
            language=participant.language,
        )
    elif reason == IntakeReason.UNKNOWN_SENDER and texts.unknown_sender_text(programme):
        queue_sms(
            intake=intake,
            purpose=OutboxPurpose.INTAKE_REPLY,
            template=OutboxTemplate.UNKNOWN_SENDER,
            programme=programme,
        )
    return intake


def resolve_intake(*, intake_id: uuid.UUID, by: User) -> SmsIntake:
    """Mark an entry dealt with (idempotent: the first resolution stands). Audited."""
    from messaging.sms.selectors import visible_intake

    with transaction.atomic():
        intake = (
            visible_intake(by)
            .select_for_update(of=("self",))
            .select_related("data_key", "programme")
            .filter(pk=intake_id)
            .first()
        )
        if intake is None:
            raise NotFound("not_found", "No such intake entry.")
        if intake.resolved_at is None:
            intake.resolved_at = timezone.now()
            intake.resolved_by = by
            intake.save(update_fields=["resolved_at", "resolved_by"])
            record(action="sms_intake.resolved", actor=by, target=intake, details={})
    return intake
