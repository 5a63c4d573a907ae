"""Export jobs over the API (outcomes/export/jobs.py): an evaluator starts the programme's
anonymised export, a worker runs it in the background, and its zip downloads once.

Who may call each endpoint is the role matrix's (tests/platform/access/matrix_outcomes.py);
here: what a job holds, the single download, the refusals (each writing nothing), and the
task's redelivery. Celery runs in process: a job runs when its request commits.

Five people of the world's programme hold research consent: the two of `make_world` and
three more, one class of the default quasi-identifiers (nobody's age band or gender is
recorded), so the default k of 5 exports them all."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEntry
from outcomes import tasks
from outcomes.export.jobs import (
    READY_RETENTION,
    RUNNING_LEASE,
    archive_path,
    start_export_job,
    sweep_export_jobs,
)
from outcomes.models import ExportJob, ExportState
from people.models import ConsentKind, ConsentSource, User
from people.services import grant_consent
from programmes.models import Enrolment, Role
from tests.support.factories import World, enrol, make_programme, make_staff, signed_in_client

pytestmark = pytest.mark.django_db

EXPORT_FILES = {"participants.csv", "datapackage.json", "codebook.md"}


def with_research_consent(enrolment: Enrolment) -> Enrolment:
    grant_consent(
        participant=enrolment.participant,
        programme=enrolment.programme,
        kind=ConsentKind.RESEARCH,
        version="v1",
        source=ConsentSource.STAFF,
    )
    return enrolment


@pytest.fixture(autouse=True)
def export_dir(settings: Any, tmp_path: Path) -> Path:
    """This test's own export folder, so that it sees only its own zips."""
    settings.PEERLINK_EXPORT_DIR = tmp_path / "exports"
    return tmp_path / "exports"


@pytest.fixture
def study(world: World) -> World:
    for enrolment in (world.own, world.others):
        with_research_consent(enrolment)
    for _ in range(3):
        with_research_consent(enrol(world.programme, peer_support=None))
    return world


def exports_url(world: World) -> str:
    return f"/api/v1/programmes/{world.programme.slug}/exports/"


def post_export(user: User, world: World, capture: Any, body: dict[str, Any] | None = None) -> Any:
    """POST an export request; the job's task runs when the request commits."""
    with capture(execute=True):
        return signed_in_client(user).post(
            exports_url(world), body or {}, content_type="application/json"
        )


def download(user: User, job_id: str) -> Any:
    return signed_in_client(user).get(f"/api/v1/exports/{job_id}/download/")


def zip_names(response: Any) -> set[str]:
    content = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return set(archive.namelist())


def queued_job(world: World, **overrides: Any) -> ExportJob:
    """A job started by the service, its task not run (the commit never comes in a test)."""
    parameters: dict[str, Any] = {
        "k": 5,
        "quasi_identifiers": ["site", "age_band", "gender"],
        "redcap": False,
    }
    parameters.update(overrides)
    return start_export_job(programme=world.programme, requested_by=world.evaluator, **parameters)


def ready_job(world: World) -> ExportJob:
    job = queued_job(world)
    assert tasks.run_export_job(str(job.pk)) == ExportState.READY
    return ExportJob.objects.get(pk=job.pk)


def audited(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


# Starting and downloading -----------------------------------------------------------------


def test_an_evaluator_starts_an_export_and_downloads_a_zip_of_its_files(
    study: World, django_capture_on_commit_callbacks: Any
) -> None:
    started = post_export(study.evaluator, study, django_capture_on_commit_callbacks)
    assert started.status_code == 202, started.content[:300]
    assert started.json()["state"] == "queued"
    job = signed_in_client(study.evaluator).get(f"/api/v1/exports/{started.json()['id']}/").json()
    assert job["state"] == "ready"
    assert job["participants"] == 5
    assert {file["name"] for file in job["files"]} >= EXPORT_FILES
    assert job["download"] == f"/api/v1/exports/{job['id']}/download/"
    response = download(study.evaluator, job["id"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert zip_names(response) >= EXPORT_FILES


def test_the_zip_holds_the_files_the_job_lists(study: World) -> None:
    job = ready_job(study)
    assert zip_names(download(study.evaluator, str(job.pk))) == {file["name"] for file in job.files}


def test_a_programme_admin_may_export_too(
    study: World, django_capture_on_commit_callbacks: Any
) -> None:
    started = post_export(study.admin, study, django_capture_on_commit_callbacks)
    assert started.status_code == 202
    assert download(study.admin, started.json()["id"]).status_code == 200


def test_the_request_parameters_reach_the_job(
    study: World, django_capture_on_commit_callbacks: Any
) -> None:
    body = {"k": 2, "quasi_identifiers": ["age_band", "site"], "redcap": True}
    job = post_export(study.evaluator, study, django_capture_on_commit_callbacks, body).json()
    assert (job["k"], job["quasi_identifiers"], job["redcap"]) == (2, ["age_band", "site"], True)
    stored = ExportJob.objects.get(pk=job["id"])
    assert (stored.k, stored.quasi_identifiers, stored.redcap) == (2, ["age_band", "site"], True)


def test_the_second_download_is_gone(study: World) -> None:
    job = ready_job(study)
    assert download(study.evaluator, str(job.pk)).status_code == 200
    again = download(study.evaluator, str(job.pk))
    assert again.status_code == 410
    assert again.json()["code"] == "export_already_downloaded"


def test_the_zip_file_is_gone_from_disk_after_download(study: World) -> None:
    job = ready_job(study)
    path = archive_path(job)
    assert path.is_file()
    response = download(study.evaluator, str(job.pk))
    assert zip_names(response)
    assert not path.exists()


def test_a_finished_job_leaves_only_its_zip_in_the_export_folder(
    study: World, export_dir: Path
) -> None:
    job = ready_job(study)
    assert [path.name for path in export_dir.iterdir()] == [f"{job.pk}.zip"]


def test_the_download_is_audited(study: World) -> None:
    job = ready_job(study)
    download(study.evaluator, str(job.pk))
    [entry] = audited("export.downloaded")
    assert entry.actor_id == study.evaluator.pk
    assert entry.target_id == str(job.pk)
    assert entry.details["files"] == job.files


def test_a_downloaded_job_says_so(study: World) -> None:
    job = ready_job(study)
    download(study.evaluator, str(job.pk))
    status = signed_in_client(study.evaluator).get(f"/api/v1/exports/{job.pk}/").json()
    assert status["state"] == "downloaded"
    assert status["downloaded_at"] is not None
    assert status["download"] is None


def test_a_job_not_run_yet_cannot_be_downloaded(study: World) -> None:
    job = queued_job(study)
    response = download(study.evaluator, str(job.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "export_not_ready"
    assert not audited("export.downloaded")


def test_a_job_whose_zip_is_lost_expires_instead_of_downloading(study: World) -> None:
    job = ready_job(study)
    archive_path(job).unlink()
    response = download(study.evaluator, str(job.pk))
    assert response.status_code == 410
    assert response.json()["code"] == "export_expired"
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.EXPIRED
    assert not audited("export.downloaded")


def test_the_programme_lists_its_jobs_newest_first(study: World) -> None:
    first = queued_job(study, k=2)
    second = queued_job(study, k=3)
    listed = signed_in_client(study.evaluator).get(exports_url(study)).json()["jobs"]
    assert [job["id"] for job in listed] == [str(second.pk), str(first.pk)]


def test_the_same_request_twice_while_queued_is_one_job(study: World) -> None:
    assert queued_job(study).pk == queued_job(study).pk
    assert ExportJob.objects.count() == 1
    assert len(audited("export.requested")) == 1


def test_a_request_after_the_last_job_finished_is_a_new_job(study: World) -> None:
    assert ready_job(study).pk != queued_job(study).pk


# Who may not -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "peer"])
def test_a_supervisor_or_peer_supporter_cannot_start_an_export(
    study: World, role: str, django_capture_on_commit_callbacks: Any
) -> None:
    response = post_export(getattr(study, role), study, django_capture_on_commit_callbacks)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize("role", ["supervisor", "peer"])
def test_a_supervisor_or_peer_supporter_cannot_download(study: World, role: str) -> None:
    job = ready_job(study)
    response = download(getattr(study, role), str(job.pk))
    assert response.status_code == 404
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.READY
    assert archive_path(job).is_file()


def test_an_evaluator_of_another_programme_cannot_see_or_download_a_job(study: World) -> None:
    outsider = make_staff(make_programme("demo"), Role.EVALUATOR)
    job = ready_job(study)
    assert signed_in_client(outsider).get(f"/api/v1/exports/{job.pk}/").status_code == 404
    assert download(outsider, str(job.pk)).status_code == 404
    assert signed_in_client(outsider).get(exports_url(study)).status_code == 404


# Refused requests write nothing -------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 0, -5, "five", 2.5, 10**9])
def test_a_bad_k_is_a_400_with_field_errors_and_creates_no_job(
    study: World, k: object, django_capture_on_commit_callbacks: Any
) -> None:
    response = post_export(study.evaluator, study, django_capture_on_commit_callbacks, {"k": k})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == {"k"}
    assert not ExportJob.objects.exists()
    assert not audited("export.requested")


@pytest.mark.parametrize("names", [["site", "postcode"], [], "site"])
def test_an_unknown_quasi_identifier_is_a_400_and_creates_no_job(
    study: World, names: object, django_capture_on_commit_callbacks: Any
) -> None:
    response = post_export(
        study.evaluator, study, django_capture_on_commit_callbacks, {"quasi_identifiers": names}
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"quasi_identifiers"}
    assert not ExportJob.objects.exists()


def test_a_repeated_quasi_identifier_is_refused_and_creates_no_job(
    study: World, django_capture_on_commit_callbacks: Any
) -> None:
    body = {"quasi_identifiers": ["site", "site"]}
    response = post_export(study.evaluator, study, django_capture_on_commit_callbacks, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_export_parameters"
    assert not ExportJob.objects.exists()


def test_a_programme_without_an_export_key_is_refused_and_creates_no_job(
    study: World, django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(PEERLINK_EXPORT_KEYS=""):
        response = post_export(study.evaluator, study, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["code"] == "export_key"
    assert not ExportJob.objects.exists()
    assert not audited("export.requested")


# The background task --------------------------------------------------------------------------


def test_a_redelivered_task_exports_once(study: World) -> None:
    job = queued_job(study)
    assert tasks.run_export_job(str(job.pk)) == ExportState.READY
    assert tasks.run_export_job(str(job.pk)) == ExportState.READY
    assert len(audited("export.created")) == 1


def test_a_task_for_a_downloaded_job_leaves_it_alone(study: World) -> None:
    job = ready_job(study)
    download(study.evaluator, str(job.pk))
    assert tasks.run_export_job(str(job.pk)) == ExportState.DOWNLOADED
    assert len(audited("export.created")) == 1


def test_a_job_with_fewer_people_than_k_fails_not_anonymisable(
    study: World, export_dir: Path
) -> None:
    job = queued_job(study, k=6)
    assert tasks.run_export_job(str(job.pk)) == ExportState.FAILED
    job.refresh_from_db()
    assert (job.state, job.error_code) == (ExportState.FAILED, "not_anonymisable")
    assert job.finished_at is not None
    assert not audited("export.created")
    assert not any(export_dir.iterdir())


def test_a_failed_job_says_why_and_cannot_be_downloaded(study: World) -> None:
    job = queued_job(study, k=6)
    tasks.run_export_job(str(job.pk))
    status = signed_in_client(study.evaluator).get(f"/api/v1/exports/{job.pk}/").json()
    assert (status["state"], status["error_code"]) == ("failed", "not_anonymisable")
    response = download(study.evaluator, str(job.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "export_failed"


# Whose download, and the sweep --------------------------------------------------------------


def test_only_the_requester_downloads_and_another_exporter_cannot_use_it_up(
    study: World,
) -> None:
    job = ready_job(study)
    refused = download(study.admin, str(job.pk))
    assert refused.status_code == 403
    assert refused.json()["code"] == "export_not_yours"
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.READY
    assert archive_path(job).is_file()
    assert download(study.evaluator, str(job.pk)).status_code == 200


def test_the_sweep_fails_a_job_whose_worker_was_lost(study: World) -> None:
    job = queued_job(study)
    ExportJob.objects.filter(pk=job.pk).update(state=ExportState.RUNNING, started_at=timezone.now())
    assert sweep_export_jobs(now=timezone.now() + RUNNING_LEASE / 2).interrupted == 0
    assert sweep_export_jobs(now=timezone.now() + RUNNING_LEASE * 2).interrupted == 1
    job.refresh_from_db()
    assert (job.state, job.error_code) == (ExportState.FAILED, "export_interrupted")


def test_a_lost_job_is_not_handed_back_for_a_new_request(study: World) -> None:
    lost = queued_job(study)
    ExportJob.objects.filter(pk=lost.pk).update(
        state=ExportState.RUNNING, started_at=timezone.now() - RUNNING_LEASE * 2
    )
    assert queued_job(study).pk != lost.pk


def test_the_sweep_deletes_a_zip_nobody_downloaded_in_time(study: World) -> None:
    job = ready_job(study)
    assert sweep_export_jobs(now=timezone.now() + READY_RETENTION / 2).expired == 0
    assert archive_path(job).is_file()
    assert sweep_export_jobs(now=timezone.now() + READY_RETENTION * 2).expired == 1
    assert not archive_path(job).exists()
    assert download(study.evaluator, str(job.pk)).json()["code"] == "export_expired"


def test_the_sweep_removes_a_lost_workers_folder(study: World, export_dir: Path) -> None:
    export_dir.mkdir(parents=True, exist_ok=True)
    (export_dir / ".job-lost").mkdir()
    (export_dir / ".job-lost" / "participants.csv").write_text("pid\n")
    assert sweep_export_jobs(now=timezone.now() + RUNNING_LEASE * 2).folders_removed == 1
    assert not (export_dir / ".job-lost").exists()
