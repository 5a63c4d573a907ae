"""Background work for surveys: the survey dispatcher's beat tick (no arguments: it reads
everything it needs from the database)."""

from __future__ import annotations

from celery import shared_task

from outcomes.dispatch import dispatch_surveys


@shared_task(name="outcomes.dispatch_surveys")
def dispatch_due_surveys() -> int:
    """Beat, every minute: invitations, reminders and expiries that are due."""
    return dispatch_surveys().handled
