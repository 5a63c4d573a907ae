"""The supervisor's team view: workload per peer supporter, unresolved alerts, the waiting
queue's size. Thin: messaging/workload.py reads."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import SupervisorOrAdmin, has_role
from audit.services import record
from messaging.workload import team_workload
from peerlink.errors import DomainError
from people.models import User
from programmes.models import Role
from programmes.selectors import get_visible_programme


class WorkloadView(APIView):
    permission_classes = [SupervisorOrAdmin]

    @extend_schema(responses={200: OpenApiResponse(description="The team's workload")})
    def get(self, request: Request, slug: str) -> Response:
        user = request.user
        assert isinstance(user, User)
        programme = get_visible_programme(user, slug)
        if not has_role(user, programme, Role.SUPERVISOR, Role.ADMIN):
            raise DomainError(
                "forbidden", "Your role does not allow this.", http_status=status.HTTP_403_FORBIDDEN
            )
        view = team_workload(user, programme)
        record(
            action="workload.viewed",
            actor=user,
            details={"programme": programme.slug, "peers": len(view["peer_supporters"])},
        )
        return Response(view)
