"""Export jobs: the evaluator export (outcomes/export/services.py) run by a Celery worker,
its zip kept in PEERLINK_EXPORT_DIR for exactly one download.

- Starting checks the parameters and the study key at request time, so that a request that
  could never succeed is refused then and leaves no job. The task is queued after commit,
  with the job's id only.
- Running claims the queued job with a conditional UPDATE that commits before the export
  starts: a redelivered task (acks_late) finds the job claimed and does nothing.
- Downloading hands the zip over with a conditional UPDATE: of two concurrent callers, one
  gets the file and the other 410. The caller deletes the file once it has it open.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import status

from access.permissions import AnyUser, programmes_with_role
from audit import services as audit
from outcomes.export.keys import ExportKeyError, export_key
from outcomes.export.services import ExportError, checked_parameters, export_programme
from outcomes.models import ExportJob, ExportState
from peerlink.errors import Conflict, DomainError, NotFound
from people.models import User
from programmes.models import Programme, Role

logger = logging.getLogger(__name__)

# Far above any k a study uses; it keeps a typo from reaching the database column.
MAX_K = 10_000
# The newest jobs a programme's listing shows.
LISTED_JOBS = 200
IN_PROGRESS = (ExportState.QUEUED, ExportState.RUNNING)
# A million responses export in seconds (docs/performance.md): a job running this long has
# lost its worker. Its task comes back only after the broker's visibility timeout (an hour),
# and finds it claimed; the sweep fails it, so that its requester can start again.
RUNNING_LEASE = dt.timedelta(minutes=30)
# A ready zip nobody downloads is deleted after this: an export is not an archive.
READY_RETENTION = dt.timedelta(days=7)


def export_dir() -> Path:
    return Path(settings.PEERLINK_EXPORT_DIR)


def archive_path(job: ExportJob) -> Path:
    return export_dir() / job.archive_name


def visible_jobs(user: AnyUser) -> QuerySet[ExportJob]:
    """Jobs of the programmes where the user is an evaluator or an admin."""
    return ExportJob.objects.filter(
        programme__in=programmes_with_role(user, Role.EVALUATOR, Role.ADMIN)
    )


def get_visible_job(user: AnyUser, job_id: uuid.UUID | str) -> ExportJob:
    job = visible_jobs(user).select_related("programme").filter(pk=job_id).first()
    if job is None:
        raise NotFound("not_found", "Not found.")
    return job


def jobs_of(programme: Programme) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(programme=programme).order_by("-created_at", "-pk")[
        :LISTED_JOBS
    ]


@transaction.atomic
def start_export_job(
    *,
    programme: Programme,
    requested_by: User,
    k: int,
    quasi_identifiers: Sequence[str],
    redcap: bool,
) -> ExportJob:
    """A queued job for this export, its task queued after commit. Idempotent: the same
    request while the requester's identical job is still queued or running returns that
    job (queued again if it is still queued: the task ignores a job already claimed)."""
    quasi = list(checked_parameters(k=k, quasi_identifiers=quasi_identifiers))
    if k > MAX_K:
        raise ExportError("invalid_export_parameters", f"k must be at most {MAX_K}.")
    try:
        export_key(programme.slug)
    except ExportKeyError as exc:
        raise ExportError("export_key", exc.message) from None
    # Serialises the requester's requests, so that a double submit finds the first job. NO
    # KEY: rows that merely reference the user (messages, enrolments) are not held up.
    User.objects.select_for_update(no_key=True).get(pk=requested_by.pk)
    same = [
        job
        for job in ExportJob.objects.filter(
            programme=programme,
            requested_by=requested_by,
            state__in=IN_PROGRESS,
            k=k,
            redcap=redcap,
        ).exclude(state=ExportState.RUNNING, started_at__lt=timezone.now() - RUNNING_LEASE)
        if job.quasi_identifiers == quasi
    ]
    if same:
        job = same[0]
    else:
        job = ExportJob.objects.create(
            programme=programme,
            requested_by=requested_by,
            k=k,
            quasi_identifiers=quasi,
            redcap=redcap,
        )
        audit.record(
            action="export.requested",
            actor=requested_by,
            target=job,
            details={
                "programme": programme.slug,
                "k": k,
                "quasi_identifiers": quasi,
                "redcap": redcap,
            },
        )
    if job.state == ExportState.QUEUED:
        job_id = str(job.pk)
        transaction.on_commit(lambda: _enqueue(job_id))
    return job


def _enqueue(job_id: str) -> None:
    from outcomes.tasks import run_export_job as task  # outcomes.tasks imports this module

    task.delay(job_id)


def run_export_job(*, job_id: uuid.UUID | str) -> str:
    """Runs a queued job and says the state it ended in (the current one, untouched, when
    the job was not queued). Not one transaction: the claim commits first so that a
    redelivered task sees it while the export runs, and the export commits its own audit."""
    claimed = ExportJob.objects.filter(pk=job_id, state=ExportState.QUEUED).update(
        state=ExportState.RUNNING, started_at=timezone.now()
    )
    job = ExportJob.objects.select_related("programme", "requested_by").get(pk=job_id)
    if not claimed:
        return job.state
    folder = export_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # In the export folder rather than /tmp: the same file system, so the zip moves into
    # place in one rename, and no half-written export is left where other users can read.
    work = Path(tempfile.mkdtemp(prefix=f".job-{job.pk}-", dir=folder))
    try:
        result = export_programme(
            programme=job.programme,
            out_dir=work / "export",
            requested_by=job.requested_by,
            k=job.k,
            quasi_identifiers=job.quasi_identifiers,
            redcap_files=job.redcap,
        )
        name = f"{job.pk}.zip"
        _zip(result.directory, work / name)
        (work / name).replace(folder / name)
    except ExportError as exc:
        return _finish(job, ExportState.FAILED, error_code=exc.code)
    except Exception as exc:
        # The type only: an exception's message may quote data.
        logger.error("export job %s failed: %s", job.pk, type(exc).__name__)
        return _finish(job, ExportState.FAILED, error_code="export_failed")
    else:
        return _finish(
            job,
            ExportState.READY,
            participants=result.participants,
            files=[file.audit() for file in result.files],
            archive_name=name,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _zip(directory: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(directory).as_posix())


def _finish(job: ExportJob, state: str, **fields: object) -> str:
    ExportJob.objects.filter(pk=job.pk, state=ExportState.RUNNING).update(
        state=state, finished_at=timezone.now(), **fields
    )
    return state


def claim_download(*, job_id: uuid.UUID | str, user: User) -> Path:
    """The zip of a ready job, handed to its requester only, once (audited); the caller
    deletes it. Any other state is refused: 410 once downloaded or expired, 409 before it is
    ready. Others who may see the job may not use up its one download."""
    requester = ExportJob.objects.filter(pk=job_id).values_list("requested_by", flat=True)
    if requester.first() != user.pk:
        raise DomainError(
            "export_not_yours",
            "Only the person who started an export downloads it: start your own.",
            http_status=status.HTTP_403_FORBIDDEN,
        )
    with transaction.atomic():
        won = ExportJob.objects.filter(
            pk=job_id, state=ExportState.READY, downloaded_at__isnull=True
        ).update(state=ExportState.DOWNLOADED, downloaded_at=timezone.now())
        job = ExportJob.objects.select_related("programme").get(pk=job_id)
        if won and not archive_path(job).is_file():
            # Nothing to hand over, now or later: say so, rather than fail every attempt.
            ExportJob.objects.filter(pk=job.pk).update(
                state=ExportState.EXPIRED, downloaded_at=None
            )
            job.refresh_from_db()
            won = 0
        if won:
            audit.record(
                action="export.downloaded",
                actor=user,
                target=job,
                details={"programme": job.programme.slug, "files": job.files},
            )
    if not won:
        raise _not_downloadable(job)
    return archive_path(job)


def _not_downloadable(job: ExportJob) -> DomainError:
    if job.state == ExportState.DOWNLOADED:
        return DomainError(
            "export_already_downloaded",
            "This export has been downloaded: each export downloads once. Start a new one.",
            http_status=status.HTTP_410_GONE,
        )
    if job.state == ExportState.EXPIRED:
        return DomainError(
            "export_expired",
            "This export's file is no longer kept. Start a new one.",
            http_status=status.HTTP_410_GONE,
        )
    if job.state == ExportState.FAILED:
        return Conflict("export_failed", f"This export failed ({job.error_code}).")
    return Conflict("export_not_ready", "This export is not ready yet.")


@dataclasses.dataclass(frozen=True)
class Sweep:
    interrupted: int
    expired: int
    folders_removed: int


def sweep_export_jobs(*, now: dt.datetime | None = None) -> Sweep:
    """Beat: fails jobs whose worker was lost, deletes ready zips past their retention, and
    removes work folders a lost worker left behind."""
    now = now or timezone.now()
    interrupted = ExportJob.objects.filter(
        state=ExportState.RUNNING, started_at__lt=now - RUNNING_LEASE
    ).update(state=ExportState.FAILED, error_code="export_interrupted", finished_at=now)
    expired = 0
    stale = ExportJob.objects.filter(state=ExportState.READY, finished_at__lt=now - READY_RETENTION)
    for job in stale.only("pk", "archive_name"):
        if ExportJob.objects.filter(pk=job.pk, state=ExportState.READY).update(
            state=ExportState.EXPIRED
        ):
            archive_path(job).unlink(missing_ok=True)
            expired += 1
    removed = 0
    folder = export_dir()
    if folder.is_dir():
        cutoff = (now - RUNNING_LEASE).timestamp()
        for work in folder.glob(".job-*"):
            if work.is_dir() and work.stat().st_mtime < cutoff:
                shutil.rmtree(work, ignore_errors=True)
                removed += 1
    return Sweep(interrupted=interrupted, expired=expired, folders_removed=removed)
