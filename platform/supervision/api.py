"""Supervision endpoints under /api/v1/supervision/. Thin: selectors read, services write.

Roles are checked twice on purpose: the permission class turns away roles that never use an
endpoint (403), the selectors hide objects of programmes or sessions the caller has no part
in (404, the same as objects that do not exist).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, SupervisorOrAdmin, has_role, request_user
from peerlink.errors import DomainError
from programmes.models import Programme, Role, StaffRole
from supervision import selectors, services
from supervision.serializers import (
    ChecklistOutSerializer,
    ChecklistQuerySerializer,
    FidelityCheckOutSerializer,
    FidelityCheckSerializer,
    ProgrammeQuerySerializer,
    SessionOutSerializer,
    SessionSerializer,
    TrainingOutSerializer,
    TrainingQuerySerializer,
    TrainingSerializer,
)


def _forbidden(message: str) -> DomainError:
    return DomainError("forbidden", message, http_status=status.HTTP_403_FORBIDDEN)


def _created(created: bool) -> int:
    # A retry that found the first record answers 200: nothing new was made.
    return status.HTTP_201_CREATED if created else status.HTTP_200_OK


class SupervisorOrPeer(BasePermission):
    """The two roles that take part in supervision sessions."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user.is_authenticated
            and StaffRole.objects.filter(
                user=user, role__in=[Role.SUPERVISOR, Role.PEER_SUPPORTER]
            ).exists()
        )


def _programme_in_body(request: Request, find: Any) -> Programme:
    """The programme a write is for, found before the rest of the body is read, so that a
    caller without the role gets 403 whatever else they sent."""
    query = ProgrammeQuerySerializer(data=request.data)
    query.is_valid(raise_exception=True)
    programme: Programme = find(request_user(request), query.validated_data["programme"])
    return programme


class SessionListView(APIView):
    """GET ?programme=SLUG: sessions the caller may see (all of the programme's for its
    supervisors, those they took part in for a peer supporter), newest first, without notes.
    POST: a supervisor records a session; the same client_id again returns the first one."""

    permission_classes = [SupervisorOrPeer]

    @extend_schema(
        parameters=[ProgrammeQuerySerializer], responses={200: SessionOutSerializer(many=True)}
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = ProgrammeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        programme = selectors.session_programme(user, query.validated_data["programme"])
        sessions = selectors.sessions_for(user, programme)
        return Response([selectors.session_payload(s) for s in sessions])

    @extend_schema(
        request=SessionSerializer,
        responses={
            201: SessionOutSerializer,
            200: OpenApiResponse(SessionOutSerializer, description="A retry: the first session"),
        },
    )
    def post(self, request: Request) -> Response:
        user = request_user(request)
        programme = _programme_in_body(request, selectors.session_programme)
        if not has_role(user, programme, Role.SUPERVISOR):
            raise _forbidden("Only the programme's supervisors record sessions.")
        serializer = SessionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recorded = services.record_session(
            programme=programme,
            supervisor=user,
            recorded_by=user,
            held_on=data["held_on"],
            kind=data["kind"],
            duration_minutes=data["duration_minutes"],
            peer_supporter_ids=data["peer_supporters"],
            notes=data["notes"],
            client_id=data["client_id"],
        )
        session = selectors.get_visible_session(user, recorded.session.pk)
        return Response(selectors.session_payload(session), status=_created(recorded.created))


class SessionDetailView(APIView):
    """One session with its notes, for the programme's supervisors and the peer supporters who
    took part (transparency). Every read of the notes is audited."""

    permission_classes = [SupervisorOrPeer]

    @extend_schema(responses={200: SessionOutSerializer})
    def get(self, request: Request, session_id: str) -> Response:
        user = request_user(request)
        session = selectors.get_visible_session(user, session_id)
        notes = services.open_session_notes(session=session, reader=user)
        return Response(selectors.session_payload(session, notes=notes))


class SessionFidelityView(APIView):
    """GET: the session's fidelity checks (all for supervisors, their own for a participant).
    POST: the session's supervisor scores one participant against an active checklist."""

    permission_classes = [SupervisorOrPeer]

    @extend_schema(responses={200: FidelityCheckOutSerializer(many=True)})
    def get(self, request: Request, session_id: str) -> Response:
        user = request_user(request)
        session = selectors.get_visible_session(user, session_id)
        checks = selectors.fidelity_checks_for(user, session)
        return Response([selectors.fidelity_check_payload(c) for c in checks])

    @extend_schema(
        request=FidelityCheckSerializer,
        responses={
            201: FidelityCheckOutSerializer,
            200: OpenApiResponse(
                FidelityCheckOutSerializer, description="A retry with the same scores"
            ),
        },
    )
    def post(self, request: Request, session_id: str) -> Response:
        user = request_user(request)
        session = selectors.get_visible_session(user, session_id)
        if session.supervisor_id != user.pk:
            raise DomainError(
                "not_session_supervisor",
                "Only the session's supervisor records fidelity checks.",
                http_status=status.HTTP_403_FORBIDDEN,
            )
        serializer = FidelityCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recorded = services.record_fidelity_check(
            session=session,
            peer_supporter_id=data["peer_supporter"],
            checklist_id=data["checklist"],
            scores=data["scores"],
            recorded_by=user,
        )
        check = selectors.fidelity_checks_for(user, session).get(pk=recorded.check.pk)
        return Response(selectors.fidelity_check_payload(check), status=_created(recorded.created))


class ChecklistListView(APIView):
    """The programme's fidelity checklists with their items: supervisors score with them,
    programme admins configure them (Django admin)."""

    permission_classes = [SupervisorOrAdmin]

    @extend_schema(
        parameters=[ChecklistQuerySerializer], responses={200: ChecklistOutSerializer(many=True)}
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = ChecklistQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        programme = selectors.checklist_programme(user, query.validated_data["programme"])
        checklists = selectors.checklists_for(
            programme, include_inactive=query.validated_data["include_inactive"]
        )
        return Response([selectors.checklist_payload(c) for c in checklists])


class TrainingListView(APIView):
    """GET ?programme=SLUG[&expiring_within_days=N]: training records (everyone's for
    supervisors and admins, one's own for a peer supporter); with N, the certifications that
    have expired or expire within N days: who must renew.
    POST: a programme admin records a completed course; the same completion again returns the
    first record."""

    permission_classes = [CaseworkStaff]

    @extend_schema(
        parameters=[TrainingQuerySerializer], responses={200: TrainingOutSerializer(many=True)}
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = TrainingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        programme = selectors.training_programme(user, query.validated_data["programme"])
        today = services.programme_today(programme)
        records = selectors.training_records_for(
            user,
            programme,
            expiring_within_days=query.validated_data.get("expiring_within_days"),
            as_of=today,
        )
        return Response([selectors.training_payload(r, today=today) for r in records])

    @extend_schema(
        request=TrainingSerializer,
        responses={
            201: TrainingOutSerializer,
            200: OpenApiResponse(TrainingOutSerializer, description="A retry: the first record"),
        },
    )
    def post(self, request: Request) -> Response:
        user = request_user(request)
        programme = _programme_in_body(request, selectors.training_programme)
        if not has_role(user, programme, Role.ADMIN):
            raise _forbidden("Only programme admins record training.")
        serializer = TrainingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        recorded = services.record_training(
            programme=programme,
            user_id=data["user"],
            course_code=data["course_code"],
            course_title=data["course_title"],
            completed_on=data["completed_on"],
            certified_until=data["certified_until"],
            recorded_by=user,
        )
        training = selectors.training_records_for(user, programme).get(pk=recorded.record.pk)
        return Response(
            selectors.training_payload(training, today=services.programme_today(programme)),
            status=_created(recorded.created),
        )
