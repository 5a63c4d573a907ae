"""Background work for messaging. Tasks take row ids only, never text or phone numbers, and
are idempotent: a redelivered task finds its row already handled (acks_late)."""

from __future__ import annotations

from celery import shared_task

from messaging import events
from messaging.metrics import SMS_SENDS
from messaging.sms import delivery
from messaging.sms.outbox import ring_outbox
from messaging.sms.selectors import due_outbox_ids


@shared_task(name="messaging.deliver_sms")
def deliver_sms(outbox_id: int) -> str:
    """Send one outbox row's SMS (messaging/sms/delivery.py)."""
    result = delivery.send_outbox(outbox_id=outbox_id)
    SMS_SENDS.labels(result=result).inc()
    return result


@shared_task(name="messaging.deliver_sms_many")
def deliver_sms_many(outbox_ids: list[int]) -> list[str]:
    """`deliver_sms` for a few rows (a chunk of a dispatcher batch, messaging/sms/outbox.py):
    claimed and recorded together (messaging/sms/delivery.py). Idempotent like it: a
    redelivered chunk finds its rows handled."""
    # The sends' doorbells (where each SMS stands) ring together at the end of the chunk.
    with events.batched():
        results = delivery.send_outboxes(outbox_ids=list(dict.fromkeys(outbox_ids)))
    for result in results.values():
        SMS_SENDS.labels(result=result).inc()
    return [results[outbox_id] for outbox_id in outbox_ids]


@shared_task(name="messaging.sweep_sms_outbox")
def sweep_sms_outbox() -> int:
    """Beat, every 15 s: ring again for due retries, lost doorbells and expired leases."""
    due = due_outbox_ids()
    for outbox_id in due:
        ring_outbox(outbox_id)
    return len(due)
