"""Background work for messaging. Tasks take row ids only, never text or phone numbers."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from encryption.services import decrypt
from messaging.models import OutboxStatus, SmsOutbox
from messaging.selectors import message_ref
from messaging.sms import send_sms
from people.selectors import participant_profile, sms_allowed

logger = logging.getLogger(__name__)


@shared_task(name="messaging.deliver_sms")
def deliver_sms(outbox_id: int) -> str:
    """Send one outbox row's SMS, at most once: a redelivered task finds it already sent."""
    with transaction.atomic():
        outbox = (
            SmsOutbox.objects.select_for_update(of=("self",))
            .select_related(
                "message__conversation__data_key",
                "message__conversation__enrolment__participant__data_key",
            )
            .filter(pk=outbox_id)
            .first()
        )
        if outbox is None or outbox.status != OutboxStatus.PENDING:
            return "already-handled"
        message = outbox.message
        conversation = message.conversation
        participant = conversation.enrolment.participant
        if not sms_allowed(participant):
            outbox.status = OutboxStatus.SKIPPED
            outbox.save(update_fields=["status"])
            logger.info("sms skipped: no consent outbox=%s", outbox_id)
            return "skipped"
        body = decrypt(
            data_key=conversation.data_key,
            ciphertext=message.body_ciphertext,
            ref=message_ref(message.id),
        )
        outbox.attempts += 1
        provider_id = send_sms(
            to=participant_profile(participant).phone,
            body=body,
            purpose="chat",
            reference=str(outbox_id),
        )
        outbox.status = OutboxStatus.SENT
        outbox.provider_message_id = provider_id
        outbox.sent_at = timezone.now()
        outbox.save(update_fields=["status", "attempts", "provider_message_id", "sent_at"])
    return "sent"
