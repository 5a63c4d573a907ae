"""Risk alert endpoints: list, detail (audited), flag a message, acknowledge, resolve, notes.
Thin: selectors read, services write. Alerts a caller may not see answer 404."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, request_user
from audit.services import record
from messaging.risk import selectors, services
from messaging.risk.serializers import (
    AlertListQuerySerializer,
    AlertNoteSerializer,
    FlagSerializer,
    ResolveSerializer,
)
from peerlink.errors import NotFound

NO_SUCH_ALERT = NotFound("not_found", "No such alert.")


class AlertListView(APIView):
    """GET: the alerts the caller may see, newest first (unresolved by default).
    POST: flag a message by hand (opens or joins the person's alert)."""

    permission_classes = [CaseworkStaff]

    @extend_schema(
        operation_id="v1_risk_alerts_list",
        parameters=[AlertListQuerySerializer],
        responses={200: OpenApiResponse(description="Alerts, newest first")},
    )
    def get(self, request: Request) -> Response:
        query = AlertListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            selectors.alert_list(request_user(request), status=query.validated_data["status"])
        )

    @extend_schema(request=FlagSerializer, responses={201: OpenApiResponse(description="Alert")})
    def post(self, request: Request) -> Response:
        serializer = FlagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        alert = services.flag_message(
            message_id=data["message"],
            by=request_user(request),
            category=data["category"],
            severity=data["severity"],
            note=data["note"],
        )
        return Response(selectors.alert_payload(alert), status=status.HTTP_201_CREATED)


class AlertDetailView(APIView):
    """The alert with its signals, timeline and notes. Every read is audited."""

    permission_classes = [CaseworkStaff]

    @extend_schema(responses={200: OpenApiResponse(description="Alert with notes")})
    def get(self, request: Request, alert_id: str) -> Response:
        user = request_user(request)
        alert = selectors.get_visible_alert(user, alert_id)
        if alert is None:
            raise NO_SUCH_ALERT
        with transaction.atomic():
            detail = selectors.alert_detail(alert)
            record(
                action="risk_alert.read",
                actor=user,
                target=alert,
                details={"notes": len(detail["notes"])},
            )
        return Response(detail)


class AcknowledgeView(APIView):
    permission_classes = [CaseworkStaff]

    @extend_schema(request=None, responses={200: OpenApiResponse(description="Alert")})
    def post(self, request: Request, alert_id: str) -> Response:
        alert = services.acknowledge_alert(alert_id=alert_id, by=request_user(request))
        return Response(selectors.alert_payload(alert))


class ResolveView(APIView):
    permission_classes = [CaseworkStaff]

    @extend_schema(request=ResolveSerializer, responses={200: OpenApiResponse(description="Alert")})
    def post(self, request: Request, alert_id: str) -> Response:
        serializer = ResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert = services.resolve_alert(
            alert_id=alert_id,
            by=request_user(request),
            resolution=serializer.validated_data["resolution"],
            note=serializer.validated_data["note"],
        )
        return Response(selectors.alert_payload(alert))


class AlertNoteView(APIView):
    permission_classes = [CaseworkStaff]

    @extend_schema(
        request=AlertNoteSerializer, responses={201: OpenApiResponse(description="Note")}
    )
    def post(self, request: Request, alert_id: str) -> Response:
        serializer = AlertNoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.add_alert_note(
            alert_id=alert_id, by=request_user(request), body=serializer.validated_data["body"]
        )
        return Response(
            {"id": str(note.id), "created_at": note.created_at.isoformat()},
            status=status.HTTP_201_CREATED,
        )
