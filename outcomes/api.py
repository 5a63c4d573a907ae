"""Survey endpoints under /api/v1/ (issue 8). Thin: selectors read, services write.

- Completion metrics of a programme: its supervisors (arms pooled: allocation is concealed
  from those who deliver support), admins and evaluators (by arm); aggregate counts, nothing
  identifiable; anyone else in the programme 403, outside it 404.
- A person's surveys (states, totals and bands, never item answers): whoever handles the
  enrolment (scheduling.selectors.get_handled_enrolment); anyone else 404.
- Switching a session to a web link: the same people.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, StaffOnly, has_role, request_user
from outcomes import selectors, services
from outcomes.models import SurveySession
from peerlink.errors import DomainError, NotFound
from programmes.models import Role
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
