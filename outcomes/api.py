"""Survey endpoints under /api/v1/ (issue 8). Thin: selectors read, services write.

- Completion metrics of a programme: its supervisors (arms pooled: allocation is concealed
  from those who deliver support), admins and evaluators (by arm); aggregate counts, nothing
  identifiable; anyone else in the programme 403, outside it 404.
- A person's surveys (states, totals and bands, never item answers): whoever handles the
  enrolment (scheduling.selectors.get_handled_enrolment); anyone else 404.
- Switching a session to a web link: the same people.
- Export jobs (the anonymised evaluator export, run in the background and downloaded once):
  the programme's evaluators and admins; anyone else in the programme 403, outside it 404;
  a job is 404 to anyone who may not export its programme.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, StaffOnly, has_role, request_user
from outcomes import selectors, services
from outcomes.export import jobs
from outcomes.export.anonymity import DEFAULT_K, DEFAULT_QUASI_IDENTIFIERS, HIERARCHIES
from outcomes.models import ExportJob, ExportState, SurveySession
from peerlink.errors import DomainError, NotFound
from people.models import User
from programmes.models import Programme, Role
from programmes.selectors import get_visible_programme
from scheduling.selectors import get_handled_enrolment, handled_enrolments


class CompletionMetricsView(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(
        responses={
            200: OpenApiResponse(
                description="Per timepoint, arm and instrument: sessions, sent, started, "
                "completed, expired, reminders_sent, median_hours_to_complete"
            )
        }
    )
    def get(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = get_visible_programme(user, slug)
        if not has_role(user, programme, Role.SUPERVISOR, Role.ADMIN, Role.EVALUATOR):
            raise DomainError(
                "forbidden", "Your role does not allow this.", http_status=status.HTTP_403_FORBIDDEN
            )
        # Allocation is concealed from staff who deliver support: supervisors see the arms
        # pooled; admins and evaluators by arm.
        by_arm = has_role(user, programme, Role.ADMIN, Role.EVALUATOR)
        rows = selectors.completion_metrics(programme, by_arm=by_arm)
        return Response(
            {"programme": programme.slug, "rows": [dataclasses.asdict(row) for row in rows]}
        )


def _session_payload(session: SurveySession) -> dict[str, Any]:
    result = getattr(session, "result", None)
    return {
        "id": str(session.pk),
        "timepoint": session.timepoint.code,
        "instrument": session.instrument_slug,
        "version": session.instrument.version if session.instrument else None,
        "channel": session.channel or None,
        "state": session.state,
        "stop_reason": session.stop_reason or None,
        "opens_at": session.opens_at,
        "closes_at": session.closes_at,
        "invited_at": session.invited_at,
        "completed_at": session.completed_at,
        "reminders_sent": session.reminders_sent,
        "result": None
        if result is None
        else {
            "total": result.total,
            "band": result.band or None,
            "subscales": result.subscales,
            "complete": result.complete,
            "answered": result.answered,
        },
    }


class EnrolmentSurveysView(APIView):
    permission_classes = [CaseworkStaff]

    @extend_schema(responses={200: OpenApiResponse(description="The person's survey sessions")})
    def get(self, request: Request, enrolment_id: str) -> Response:
        enrolment = get_handled_enrolment(request_user(request), enrolment_id)
        sessions = selectors.sessions_of(enrolment)
        return Response({"sessions": [_session_payload(s) for s in sessions]})


class SurveyWebLinkView(APIView):
    """POST: ask this survey by a web link instead of by SMS."""

    permission_classes = [CaseworkStaff]

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The session")})
    def post(self, request: Request, session_id: str) -> Response:
        user = request_user(request)
        visible = SurveySession.objects.filter(
            pk=session_id, enrolment__in=handled_enrolments(user)
        )
        if not visible.exists():
            raise NotFound("not_found", "Not found.")
        session = services.switch_to_web_link(session_id=visible.get().pk, by=user)
        session = selectors.sessions_of(session.enrolment).get(pk=session.pk)
        return Response(_session_payload(session))


class ExportRequestSerializer(serializers.Serializer[Any]):
    # Repeated names answer invalid_export_parameters (outcomes.export.services).
    k = serializers.IntegerField(min_value=2, max_value=jobs.MAX_K, default=DEFAULT_K)
    quasi_identifiers = serializers.ListField(
        child=serializers.ChoiceField(choices=list(HIERARCHIES)),
        allow_empty=False,
        default=lambda: list(DEFAULT_QUASI_IDENTIFIERS),
        help_text="Checked for k-anonymity; those analyses need most first",
    )
    redcap = serializers.BooleanField(default=False, help_text="Also the REDCap import files")


EXPORT_JOB = OpenApiResponse(
    description="{id, programme, state, error_code, k, quasi_identifiers, redcap, "
    "requested_by, created_at, started_at, finished_at, downloaded_at, participants, files "
    "[{name, rows, sha256, bytes}], download (its URL while ready, else null)}"
)


def _job_payload(job: ExportJob) -> dict[str, Any]:
    ready = job.state == ExportState.READY
    return {
        "id": str(job.pk),
        "programme": job.programme.slug,
        "state": job.state,
        "error_code": job.error_code or None,
        "k": job.k,
        "quasi_identifiers": job.quasi_identifiers,
        "redcap": job.redcap,
        "requested_by": job.requested_by_id,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "downloaded_at": job.downloaded_at,
        "participants": job.participants,
        "files": job.files,
        "download": reverse("export-download", args=[job.pk]) if ready else None,
    }


def _exporting_programme(user: User, slug: str) -> Programme:
    programme = get_visible_programme(user, slug)
    if not has_role(user, programme, Role.EVALUATOR, Role.ADMIN):
        raise DomainError(
            "forbidden", "Your role does not allow this.", http_status=status.HTTP_403_FORBIDDEN
        )
    return programme


class ProgrammeExportsView(APIView):
    """GET: the programme's export jobs, newest first. POST: start one (202; the job runs in
    the background: poll it until `ready`, then download it once). The same request while
    the caller's identical job is still queued or running answers that job."""

    permission_classes = [StaffOnly]

    @extend_schema(responses={200: OpenApiResponse(description="{jobs: [job, ...]}")})
    def get(self, request: Request, slug: str) -> Response:
        programme = _exporting_programme(request_user(request), slug)
        return Response({"jobs": [_job_payload(job) for job in jobs.jobs_of(programme)]})

    @extend_schema(request=ExportRequestSerializer, responses={202: EXPORT_JOB})
    def post(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = _exporting_programme(user, slug)
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = jobs.start_export_job(
            programme=programme,
            requested_by=user,
            k=data["k"],
            quasi_identifiers=data["quasi_identifiers"],
            redcap=data["redcap"],
        )
        # An in-process Celery (local, tests) has run the job already.
        job.refresh_from_db()
        return Response(_job_payload(job), status=status.HTTP_202_ACCEPTED)


class ExportJobView(APIView):
    """GET: one export job: its state, and what it holds once ready."""

    permission_classes = [StaffOnly]

    @extend_schema(responses={200: EXPORT_JOB})
    def get(self, request: Request, job_id: str) -> Response:
        return Response(_job_payload(jobs.get_visible_job(request_user(request), job_id)))


class ExportDownloadView(APIView):
    """GET: the job's zip (its CSV files, datapackage.json and codebook.md), once only: the
    file is deleted as it is sent, and a second download answers 410
    export_already_downloaded."""

    permission_classes = [StaffOnly]

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            409: OpenApiResponse(description="export_not_ready or export_failed"),
            410: OpenApiResponse(description="export_already_downloaded or export_expired"),
        }
    )
    def get(self, request: Request, job_id: str) -> FileResponse:
        user = request_user(request)
        job = jobs.get_visible_job(user, job_id)
        path = jobs.claim_download(job_id=job.pk, user=user)
        handle = path.open("rb")
        # Unlinked while open: the response still streams the whole file, and nobody can
        # open it again.
        path.unlink()
        return FileResponse(
            handle,
            as_attachment=True,
            filename=f"peerlink-{job.programme.slug}-export-{job.pk}.zip",
            content_type="application/zip",
        )
