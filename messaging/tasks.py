"""Background work for messaging. Tasks take row ids only, never text or phone numbers, and
are idempotent: a redelivered task finds its row already handled (acks_late)."""

from __future__ import annotations

import logging

from celery import shared_task

from messaging import events
from messaging.metrics import SMS_SENDS
from messaging.sms import delivery
from messaging.sms.outbox import ring_outbox
from messaging.sms.selectors import due_outbox_ids

logger = logging.getLogger(__name__)


@shared_task(name="messaging.deliver_sms")
def deliver_sms(outbox_id: int) -> str:
    """Send one outbox row's SMS (messaging/sms/delivery.py)."""
    result = delivery.send_outbox(outbox_id=outbox_id)
    SMS_SENDS.labels(result=result).inc()
    return result


@shared_task(name="messaging.deliver_sms_many")
def deliver_sms_many(outbox_ids: list[int]) -> list[str]:
    """`deliver_sms` for a few rows (a dispatcher batch's chunk, messaging/sms/outbox.py),
    one after the other. Each send stands alone: one that fails unexpectedly leaves its row
    to the sweeper and the others still go; the first such failure is raised at the end."""
    results: list[str] = []
    failure: Exception | None = None
    # The sends' doorbells (where each SMS stands) ring together at the end of the chunk.
    with events.batched():
        for outbox_id in outbox_ids:
            try:
                results.append(deliver_sms(outbox_id))
            except Exception as exc:
                logger.warning("sms send failed outbox=%s: %s", outbox_id, type(exc).__name__)
                failure = failure or exc
                results.append("failed")
    if failure is not None:
        raise failure
    return results


@shared_task(name="messaging.sweep_sms_outbox")
def sweep_sms_outbox() -> int:
    """Beat, every 15 s: ring again for due retries, lost doorbells and expired leases."""
    due = due_outbox_ids()
    for outbox_id in due:
        ring_outbox(outbox_id)
    return len(due)
