"""Scheduled-text endpoints (issue 7): a person's supportive texts and reminders, a staff
pause, reminders, and the time zone and quiet hours the schedule reads. Thin: selectors
read, services write.

Staff endpoints are for whoever handles the enrolment (scheduling.selectors
.handled_enrolments: the assigned peer supporter, the team's supervisor, the programme's
admins); anyone else gets 404, as for an enrolment that does not exist. Evaluators and
service users are refused by the permission class (403). Service users read their own texts
and set their own preferences under me/."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, SignedIn, request_user, service_user
from audit.services import record
from people.models import Participant
from people.services import update_timing_preferences
from programmes.models import Enrolment
from scheduling import selectors, services
from scheduling.serializers import (
    OwnEnrolmentQuerySerializer,
    PreferencesSerializer,
    ReminderListQuerySerializer,
    ReminderSerializer,
    preferences_payload,
    reminder_payload,
    stream_payload,
    texts_payload,
)


def _texts(enrolment: Enrolment) -> dict[str, Any]:
    return texts_payload(
        enrolment,
        supportive=selectors.supportive_stream(enrolment),
        reminders=selectors.reminders_of(enrolment),
        sends=selectors.recent_sends(enrolment),
    )


TEXTS = OpenApiResponse(
    description="The supportive stream (or null), reminders without their text, and the last "
    "20 sends without their text"
)
PREFERENCES = OpenApiResponse(description="{time_zone, quiet_hours_start, quiet_hours_end}")
STREAM = OpenApiResponse(description="The supportive stream")


class EnrolmentTextsView(APIView):
    """GET: the person's scheduled-text state."""

    permission_classes = [CaseworkStaff]

    @extend_schema(responses={200: TEXTS})
    def get(self, request: Request, enrolment_id: str) -> Response:
        enrolment = selectors.get_handled_enrolment(request_user(request), enrolment_id)
        return Response(_texts(enrolment))


class OwnTextsView(APIView):
    """GET: a service user's own scheduled texts (`?enrolment=` when they have several)."""

    permission_classes = [SignedIn]

    @extend_schema(parameters=[OwnEnrolmentQuerySerializer], responses={200: TEXTS})
    def get(self, request: Request) -> Response:
        user = service_user(request, why="Only service users have texts of their own.")
        query = OwnEnrolmentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        enrolment = selectors.own_text_enrolment(user, query.validated_data.get("enrolment"))
        return Response(_texts(enrolment))


class PauseTextsView(APIView):
    """POST: pause the person's supportive texts (reminders carry on). Pausing paused texts
    changes nothing; texts that are not running answer 409 texts_not_running."""

    permission_classes = [CaseworkStaff]

    @extend_schema(request=None, responses={200: STREAM})
    def post(self, request: Request, enrolment_id: str) -> Response:
        user = request_user(request)
        enrolment = selectors.get_handled_enrolment(user, enrolment_id)
        row = services.pause_texts(enrolment=enrolment, by=user)
        return Response(stream_payload(row, tz_name=enrolment.participant.time_zone))


class ResumeTextsView(APIView):
    """POST: resume paused supportive texts from now (nothing missed is sent late). Resuming
    running texts changes nothing; texts not paused answer 409 texts_not_paused."""

    permission_classes = [CaseworkStaff]

    @extend_schema(request=None, responses={200: STREAM})
    def post(self, request: Request, enrolment_id: str) -> Response:
        user = request_user(request)
        enrolment = selectors.get_handled_enrolment(user, enrolment_id)
        row = services.resume_texts(enrolment=enrolment, by=user)
        return Response(stream_payload(row, tz_name=enrolment.participant.time_zone))


class ReminderListView(APIView):
    """GET: the person's reminders, in the order they begin (`?all=1` adds cancelled ones),
    with their text for those who may read the conversation (not programme admins); every
    listing is audited. POST: a new reminder."""

    permission_classes = [CaseworkStaff]

    @extend_schema(
        parameters=[ReminderListQuerySerializer],
        responses={200: OpenApiResponse(description="Reminders with their text")},
    )
    def get(self, request: Request, enrolment_id: str) -> Response:
        user = request_user(request)
        query = ReminderListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        enrolment = selectors.get_handled_enrolment(user, enrolment_id)
        tz_name = enrolment.participant.time_zone
        with transaction.atomic():
            reminders = selectors.reminders_of(
                enrolment, include_cancelled=query.validated_data["all"]
            )
            with_text = selectors.may_read_reminder_text(user, enrolment)
            payload = [reminder_payload(r, tz_name=tz_name, with_text=with_text) for r in reminders]
            record(
                action="reminders.read",
                actor=user,
                target=enrolment,
                details={"count": len(payload)},
            )
        return Response(payload)

    @extend_schema(
        request=ReminderSerializer,
        responses={201: OpenApiResponse(description="The reminder with its text")},
    )
    def post(self, request: Request, enrolment_id: str) -> Response:
        user = request_user(request)
        enrolment = selectors.get_handled_enrolment(user, enrolment_id)
        serializer = ReminderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reminder = services.create_reminder(
            enrolment=enrolment,
            kind=data["kind"],
            body=data["text"],
            local_time=data["local_time"],
            first_date=data["first_date"],
            recurrence=data["recurrence"],
            last_date=data["last_date"],
            created_by=user,
        )
        return Response(
            reminder_payload(
                reminder,
                tz_name=enrolment.participant.time_zone,
                with_text=selectors.may_read_reminder_text(user, enrolment),
            ),
            status=status.HTTP_201_CREATED,
        )


class ReminderDetailView(APIView):
    """DELETE: cancel a reminder (its next send is stopped; cancelling twice changes
    nothing)."""

    permission_classes = [CaseworkStaff]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, reminder_id: int) -> Response:
        user = request_user(request)
        reminder = selectors.get_handled_reminder(user, reminder_id)
        services.cancel_reminder(reminder=reminder, by=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _update_preferences(request: Request, participant: Participant) -> Response:
    serializer = PreferencesSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    participant = update_timing_preferences(
        participant=participant,
        changed_by=request_user(request),
        time_zone=data.get("time_zone"),
        quiet_hours_start=data.get("quiet_hours_start"),
        quiet_hours_end=data.get("quiet_hours_end"),
    )
    return Response(preferences_payload(participant))


class EnrolmentPreferencesView(APIView):
    """PATCH: the person's time zone and quiet hours ("HH:MM"); their scheduled texts are
    replanned in the same transaction."""

    permission_classes = [CaseworkStaff]

    @extend_schema(request=PreferencesSerializer, responses={200: PREFERENCES})
    def patch(self, request: Request, enrolment_id: str) -> Response:
        enrolment = selectors.get_handled_enrolment(request_user(request), enrolment_id)
        return _update_preferences(request, enrolment.participant)


class OwnPreferencesView(APIView):
    """PATCH: a service user's own time zone and quiet hours."""

    permission_classes = [SignedIn]

    @extend_schema(request=PreferencesSerializer, responses={200: PREFERENCES})
    def patch(self, request: Request) -> Response:
        user = service_user(request, why="Only service users have texts of their own.")
        return _update_preferences(request, user.participant)
