"""Background work for risk alerts. Idempotent: a redelivered tick finds nothing due twice."""

from __future__ import annotations

from celery import shared_task

from messaging.risk.services import escalate_due_alerts


@shared_task(name="risk.escalate_alerts")
def escalate_alerts() -> int:
    """Beat, every 15 s: text the next on-call level for alerts nobody has acknowledged."""
    return escalate_due_alerts()
