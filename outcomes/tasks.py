"""Background work for surveys and exports: the survey dispatcher's beat tick (no arguments:
it reads everything it needs from the database), and an export job, by its id only."""

from __future__ import annotations

from celery import shared_task

from outcomes.dispatch import dispatch_surveys
from outcomes.export import jobs


@shared_task(name="outcomes.dispatch_surveys")
def dispatch_due_surveys() -> int:
    """Beat, every minute: invitations, reminders and expiries that are due."""
    return dispatch_surveys().handled


@shared_task(name="outcomes.run_export_job", acks_late=True)
def run_export_job(job_id: str) -> str:
    """One export job (outcomes/export/jobs.py); a redelivery finds it claimed and does
    nothing. Says the state the job is in."""
    return jobs.run_export_job(job_id=job_id)


@shared_task(name="outcomes.sweep_export_jobs")
def sweep_export_jobs() -> int:
    """Beat, every 15 minutes: lost export jobs failed, old zips deleted."""
    swept = jobs.sweep_export_jobs()
    return swept.interrupted + swept.expired + swept.folders_removed
