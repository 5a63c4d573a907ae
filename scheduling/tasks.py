"""Background work for scheduled texts: the dispatcher's beat tick (no arguments: it reads
everything it needs from the database)."""

from __future__ import annotations

from celery import shared_task

from scheduling.dispatch import dispatch_due
from scheduling.metrics import record_dispatch

# A tick works for at most this long, so that the next minute's tick takes over rather than
# piling up beside it on the workers (the SMS sends and escalations share them).
TICK_SECONDS = 50.0


@shared_task(name="scheduling.dispatch_due")
def dispatch_due_sends() -> int:
    """Beat, every minute: every due supportive text and reminder (scheduling/dispatch.py)."""
    result = dispatch_due(max_seconds=TICK_SECONDS)
    record_dispatch(result.outcomes)
    return result.handled
