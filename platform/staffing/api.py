"""Availability endpoints: own working hours and leave, the supervisors' on-call rota, own
escalation phone. Thin: selectors read, services write."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, SupervisorOrAdmin, has_role, request_user
from peerlink.errors import DomainError, NotFound
from people.models import User
from people.selectors import mask_phone
from programmes.models import Programme, Role
from programmes.selectors import get_visible_programme
from staffing import selectors, services
from staffing.serializers import (
    ContactSerializer,
    LeaveSerializer,
    ShiftSerializer,
    WorkingHoursSerializer,
    availability_payload,
    leave_payload,
    shift_payload,
)

FORBIDDEN = DomainError(
    "forbidden", "Your role does not allow this.", http_status=status.HTTP_403_FORBIDDEN
)


class OnDutyStaff(BasePermission):
    """Peer supporters and supervisors: the roles with working hours and leave."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.works_shifts(request.user)


def _user_param(request: Request) -> int | None:
    raw = request.query_params.get("user")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise NotFound("unknown_user", "No such peer supporter in your team.") from None


class OwnAvailabilityView(APIView):
    """GET: the caller's working hours, time zone and when they are next on duty.
    PUT: replace their working hours and time zone."""

    permission_classes = [OnDutyStaff]

    @extend_schema(responses={200: OpenApiResponse(description="Working hours")})
    def get(self, request: Request) -> Response:
        user = request_user(request)
        return Response(availability_payload(user, selectors.profile_of(user)))

    @extend_schema(
        request=WorkingHoursSerializer,
        responses={200: OpenApiResponse(description="Working hours")},
    )
    def put(self, request: Request) -> Response:
        user = request_user(request)
        serializer = WorkingHoursSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = services.set_working_hours(
            user=user,
            working_hours=serializer.validated_data["working_hours"],
            time_zone=serializer.validated_data["time_zone"],
            changed_by=user,
        )
        return Response(availability_payload(user, profile))


class OwnLeaveView(APIView):
    """GET: leave not yet over, soonest first. POST: record leave. A supervisor may name a
    peer supporter of their team with `user` (a query parameter for GET)."""

    permission_classes = [OnDutyStaff]

    @extend_schema(
        parameters=[OpenApiParameter("user", int, required=False)],
        responses={200: OpenApiResponse(description="Leave")},
    )
    def get(self, request: Request) -> Response:
        subject = selectors.availability_subject(request_user(request), _user_param(request))
        leave = selectors.current_leave(subject, after=timezone.now())
        return Response([leave_payload(each) for each in leave])

    @extend_schema(request=LeaveSerializer, responses={201: OpenApiResponse(description="Leave")})
    def post(self, request: Request) -> Response:
        user = request_user(request)
        serializer = LeaveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subject = selectors.availability_subject(user, data.get("user"))
        leave = services.record_leave(
            user=subject, starts_at=data["starts_at"], ends_at=data["ends_at"], recorded_by=user
        )
        return Response(leave_payload(leave), status=status.HTTP_201_CREATED)


class OwnLeaveDetailView(APIView):
    permission_classes = [OnDutyStaff]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, leave_id: int) -> Response:
        user = request_user(request)
        leave = selectors.get_visible_leave(user, leave_id)
        services.cancel_leave(leave=leave, cancelled_by=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OnCallRotaView(APIView):
    """The programme's on-call rota, current and upcoming shifts (supervisors and admins).
    POST adds a shift for one of the programme's supervisors."""

    permission_classes = [SupervisorOrAdmin]

    def _programme(self, request: Request, slug: str) -> Programme:
        user = request_user(request)
        programme = get_visible_programme(user, slug)
        if not has_role(user, programme, Role.SUPERVISOR, Role.ADMIN):
            raise FORBIDDEN
        return programme

    @extend_schema(responses={200: OpenApiResponse(description="On-call shifts")})
    def get(self, request: Request, slug: str) -> Response:
        programme = self._programme(request, slug)
        now = timezone.now()
        shifts = list(selectors.rota(programme, after=now))
        with_phone = selectors.ids_with_phone({shift.supervisor_id for shift in shifts})
        return Response(
            [
                shift_payload(shift, has_phone=shift.supervisor_id in with_phone, now=now)
                for shift in shifts
            ]
        )

    @extend_schema(
        request=ShiftSerializer, responses={201: OpenApiResponse(description="The shift")}
    )
    def post(self, request: Request, slug: str) -> Response:
        user = request_user(request)
        programme = self._programme(request, slug)
        serializer = ShiftSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        supervisor = User.objects.filter(pk=data["supervisor"]).first()
        if supervisor is None:
            raise NotFound("unknown_user", "No such supervisor.")
        shift = services.add_on_call_shift(
            programme=programme,
            supervisor=supervisor,
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            level=data["level"],
            created_by=user,
        )
        has_phone = bool(selectors.ids_with_phone({supervisor.pk}))
        return Response(
            shift_payload(shift, has_phone=has_phone, now=timezone.now()),
            status=status.HTTP_201_CREATED,
        )


class OwnContactView(APIView):
    """PUT: the caller's own phone for escalation texts. The answer shows it masked only."""

    permission_classes = [CaseworkStaff]

    @extend_schema(
        request=ContactSerializer, responses={200: OpenApiResponse(description="Masked phone")}
    )
    def put(self, request: Request) -> Response:
        user = request_user(request)
        serializer = ContactSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.set_staff_phone(
            user=user, phone=serializer.validated_data["phone"], changed_by=user
        )
        phone = services.staff_phone(user.pk)
        assert phone is not None
        return Response({"phone": mask_phone(phone)})
