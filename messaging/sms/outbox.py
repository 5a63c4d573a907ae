"""Queueing an SMS: the outbox row in the caller's transaction, the task after commit; and
the check that keeps automatic replies from being queued too often."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging.models import SmsOutbox
from people.models import Participant

logger = logging.getLogger(__name__)


def queue_sms(**fields: Any) -> SmsOutbox:
    """Write an outbox row (inside the caller's transaction) and ring for it after commit."""
    outbox = SmsOutbox.objects.create(**fields)
    after_commit_ring(outbox.pk)
    return outbox


def queued_recently(
    *,
    purpose: str,
    seconds: float,
    participant: Participant | None = None,
    phone_index: str = "",
) -> bool:
    """Whether a text of this purpose went to this person, or to this number (as a person or
    an intake entry), in the last `seconds`: the automatic replies' rate limits, so that two
    auto-responders can't text each other forever."""
    if participant is None and not phone_index:
        raise ValueError("name a participant or a phone index")
    to = Q(participant=participant) if participant is not None else Q()
    if phone_index:
        to |= Q(intake__phone_index=phone_index) | Q(participant__phone_index=phone_index)
    since = timezone.now() - dt.timedelta(seconds=seconds)
    return SmsOutbox.objects.filter(to, purpose=purpose, created_at__gte=since).exists()


def after_commit_ring(outbox_id: int) -> None:
    """Ring for a row after commit, for callers that order their doorbells themselves."""
    transaction.on_commit(lambda: ring_outbox(outbox_id))


def ring_outbox(outbox_id: int) -> None:
    """Start the send task. The broker is a doorbell: if it can't be reached the row stays
    pending and the sweeper rings again, so the caller's request must not fail for it."""
    from messaging.tasks import deliver_sms

    try:
        deliver_sms.delay(outbox_id)
    except Exception as exc:
        if getattr(deliver_sms.app.conf, "task_always_eager", False):
            raise  # in process (tests, local): the send itself failed; let it show
        logger.warning("sms task not queued (the sweeper will retry): %s", type(exc).__name__)
