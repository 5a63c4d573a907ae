"""The SMS intake for supervisors and programme admins: texts no conversation could take.
Every listing is audited (it shows text and numbers of people who may not be enrolled)."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import SupervisorOrAdmin, request_user
from audit.services import record
from messaging.sms import intake, selectors


class SmsIntakeListView(APIView):
    """Open entries, newest first (`?all=1` adds the resolved ones), at most 200."""

    permission_classes = [SupervisorOrAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, required=False)],
        responses={200: OpenApiResponse(description="Intake entries, newest first")},
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        include_resolved = request.query_params.get("all", "") in {"1", "true"}
        rows = selectors.intake_list(user, include_resolved=include_resolved)
        record(action="sms_intake.listed", actor=user, details={"count": len(rows)})
        return Response(rows)


class SmsIntakeResolveView(APIView):
    """Mark an entry as dealt with (the first resolution stands)."""

    permission_classes = [SupervisorOrAdmin]

    @extend_schema(request=None, responses={200: OpenApiResponse(description="The entry")})
    def post(self, request: Request, intake_id: uuid.UUID) -> Response:
        user = request_user(request)
        entry = intake.resolve_intake(intake_id=intake_id, by=user)
        full_phone = selectors.NumberRule(user).full_phone(entry)
        return Response(selectors.intake_payload(entry, full_phone=full_phone))
