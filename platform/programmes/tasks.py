"""Background work for programmes. Tasks take ids only and re-read the database."""

from __future__ import annotations

from celery import shared_task

from programmes import services
from programmes.models import Programme


@shared_task(name="programmes.assign_waiting")
def assign_waiting(programme_id: int | None = None) -> int:
    """Beat, every minute: give the waiting queue to peer supporters who came on duty or have
    room again. Idempotent: someone assigned is no longer waiting."""
    programme = None
    if programme_id is not None:
        programme = Programme.objects.filter(pk=programme_id).first()
        if programme is None:
            return 0
    return services.assign_waiting(programme=programme)
