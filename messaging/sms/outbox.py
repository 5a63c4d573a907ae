"""Queueing an SMS: the outbox row in the caller's transaction, the task after commit."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from messaging.models import SmsOutbox

logger = logging.getLogger(__name__)


def queue_sms(*, ring: bool = True, **fields: Any) -> SmsOutbox:
    """Write an outbox row (inside the caller's transaction) and ring for it after commit;
    with `ring` off the caller rings itself (`after_commit_ring`), to order its doorbells."""
    outbox = SmsOutbox.objects.create(**fields)
    if ring:
        after_commit_ring(outbox.pk)
    return outbox


def after_commit_ring(outbox_id: int) -> None:
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
