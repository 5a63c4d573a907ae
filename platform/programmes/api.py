"""Programme, enrolment and caseload endpoints. Thin: selectors read, services write."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import (
    CaseworkStaff,
    SignedIn,
    StaffOnly,
    SupervisorOrAdmin,
    has_role,
    request_user,
    service_user,
    staff_roles,
)
from audit.services import record
from peerlink.errors import Conflict, DomainError, NotFound
from people.models import User
from programmes import selectors, services
from programmes.models import Enrolment, Programme, Role, Site
from programmes.serializers import (
    AssignSerializer,
    EnrolSerializer,
    PeerChangeSerializer,
    ProgrammeSerializer,
    assignment_payload,
    change_request_payload,
    enrolment_payload,
    own_change_request_payload,
    waiting_payload,
)

FORBIDDEN = DomainError(
    "forbidden", "Your role does not allow this.", http_status=status.HTTP_403_FORBIDDEN
)


class ProgrammeListView(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(responses={200: ProgrammeSerializer(many=True)})
    def get(self, request: Request) -> Response:
        programmes = selectors.visible_programmes(request_user(request)).prefetch_related(
            "sites", "arms"
        )
        return Response(ProgrammeSerializer(programmes.order_by("slug"), many=True).data)


class ProgrammeDetailView(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(responses={200: ProgrammeSerializer})
    def get(self, request: Request, slug: str) -> Response:
        return Response(
            ProgrammeSerializer(selectors.get_visible_programme(request_user(request), slug)).data
        )


class EnrolmentListView(APIView):
    """GET: the caller's caseload in the programme (what their role lets them see).
    POST: enrol a person (programme admins), allocating their arm."""

    permission_classes = [CaseworkStaff]

    @extend_schema(responses={200: OpenApiResponse(description="Enrolments visible to the caller")})
    def get(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = selectors.get_visible_programme(user, slug)
        roles = staff_roles(user, programme)
        enrolments = selectors.enrolments_for(user, programme=programme)
        payload = [enrolment_payload(e, viewer_roles=roles) for e in enrolments]
        record(
            action="participants.listed",
            actor=user,
            target=programme,
            details={"count": len(payload)},
        )
        return Response(payload)

    @extend_schema(
        request=EnrolSerializer, responses={201: OpenApiResponse(description="The enrolment")}
    )
    def post(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = selectors.get_visible_programme(user, slug)
        if not has_role(user, programme, Role.ADMIN):
            raise FORBIDDEN
        serializer = EnrolSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        site = Site.objects.filter(programme=programme, code=data.pop("site")).first()
        if site is None:
            raise DomainError("invalid_site", "No such site in this programme.")
        enrolment = services.enrol_participant(
            programme=programme, site=site, enrolled_by=user, **data
        )
        enrolment = selectors.get_visible_enrolment(user, enrolment.pk)
        return Response(
            enrolment_payload(enrolment, viewer_roles=staff_roles(user, programme)),
            status=status.HTTP_201_CREATED,
        )


class EnrolmentDetailView(APIView):
    permission_classes = [CaseworkStaff]

    @extend_schema(responses={200: OpenApiResponse(description="One enrolment")})
    def get(self, request: Request, enrolment_id: str) -> Response:
        user = request_user(request)
        enrolment = selectors.get_visible_enrolment(user, enrolment_id)
        record(action="participant.viewed", actor=user, target=enrolment)
        return Response(
            enrolment_payload(enrolment, viewer_roles=staff_roles(user, enrolment.programme))
        )


class AssignmentView(APIView):
    """GET: the enrolment's assignment history. POST: assign or hand off (supervisors, admins)."""

    permission_classes = [CaseworkStaff]

    @extend_schema(responses={200: OpenApiResponse(description="Assignment history, oldest first")})
    def get(self, request: Request, enrolment_id: str) -> Response:
        enrolment = selectors.get_visible_enrolment(request_user(request), enrolment_id)
        return Response([assignment_payload(a) for a in selectors.assignment_history(enrolment)])

    @extend_schema(
        request=AssignSerializer, responses={201: OpenApiResponse(description="The assignment")}
    )
    def post(self, request: Request, enrolment_id: str) -> Response:
        user = request_user(request)
        enrolment = selectors.get_visible_enrolment(user, enrolment_id)
        if not has_role(user, enrolment.programme, Role.SUPERVISOR, Role.ADMIN):
            raise FORBIDDEN
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        peer = User.objects.filter(pk=serializer.validated_data["peer_supporter"]).first()
        if peer is None:
            raise NotFound("unknown_peer_supporter", "No such peer supporter.")
        assignment = services.assign_peer_supporter(
            enrolment=enrolment,
            peer_supporter=peer,
            assigned_by=user,
            reason=serializer.validated_data["reason"],
        )
        return Response(assignment_payload(assignment), status=status.HTTP_201_CREATED)


def _supervised_programme(user: User, slug: str) -> Programme:
    programme = selectors.get_visible_programme(user, slug)
    if not has_role(user, programme, Role.SUPERVISOR, Role.ADMIN):
        raise FORBIDDEN
    return programme


class WaitingQueueView(APIView):
    """People waiting for a peer supporter, longest wait first (supervisors and admins)."""

    permission_classes = [SupervisorOrAdmin]

    @extend_schema(responses={200: OpenApiResponse(description="The waiting queue")})
    def get(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = _supervised_programme(user, slug)
        now = timezone.now()
        queue = selectors.waiting_queue_for(user, programme=programme)
        return Response([waiting_payload(enrolment, now=now) for enrolment in queue])


class OwnPeerChangeView(APIView):
    """A service user asks for a different peer supporter. 201 with the new request; 200 with
    the open one when they already asked. The answer never names who comes next."""

    permission_classes = [SignedIn]

    @extend_schema(
        request=PeerChangeSerializer,
        responses={
            201: OpenApiResponse(description="The request"),
            200: OpenApiResponse(description="The request already open"),
        },
    )
    def post(self, request: Request) -> Response:
        user = service_user(request, why="Only service users ask for a different peer supporter.")
        serializer = PeerChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        enrolment = _own_enrolment(user, serializer.validated_data.get("enrolment"))
        change, created = services.request_peer_change(
            enrolment=enrolment, reason=serializer.validated_data["reason"], requested_by=user
        )
        return Response(
            own_change_request_payload(change),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _own_enrolment(user: User, enrolment_id: uuid.UUID | None) -> Enrolment:
    enrolments = selectors.own_peer_support_enrolments(user)
    if enrolment_id is not None:
        chosen = enrolments.filter(pk=enrolment_id).first()
        if chosen is None:
            raise NotFound("not_found", "Not found.")
        return chosen
    found = list(enrolments[:2])
    if not found:
        raise Conflict("no_peer_supporter", "You have no peer supporter to change.")
    if len(found) > 1:
        raise DomainError("enrolment_required", "Say which enrolment (programme) this is about.")
    return found[0]


class PeerChangeRequestListView(APIView):
    """Open requests for a different peer supporter, oldest first (supervisors and admins).
    Answer one by a handoff with reason `request`, or decline it."""

    permission_classes = [SupervisorOrAdmin]

    @extend_schema(responses={200: OpenApiResponse(description="Open requests")})
    def get(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = _supervised_programme(user, slug)
        changes = selectors.open_change_requests(user, programme=programme)
        return Response([change_request_payload(change) for change in changes])


class PeerChangeDeclineView(APIView):
    permission_classes = [SupervisorOrAdmin]

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The request")})
    def post(self, request: Request, request_id: int) -> Response:
        user = request_user(request)
        change = selectors.get_answerable_change_request(user, request_id)
        change = services.decline_peer_change(change_request=change, declined_by=user)
        return Response(change_request_payload(change))
