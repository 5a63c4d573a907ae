"""Chat endpoints for staff and service users: conversation list, history, read markers,
saved replies and case notes. Thin: selectors read, services write. Objects a caller may not
see answer 404, the same as objects that do not exist."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CaseworkStaff, SignedIn, request_user
from audit.services import record
from messaging import selectors, services
from messaging.serializers import (
    BoundaryConfirmationQuerySerializer,
    CaseNoteSerializer,
    HistoryQuerySerializer,
    MessagePageSerializer,
    ReadSerializer,
    SavedReplyQuerySerializer,
    SavedReplySerializer,
)
from peerlink.errors import DomainError, NotFound
from programmes.selectors import get_visible_programme

NO_SUCH_CONVERSATION = NotFound("not_found", "No such conversation.")
READ_ONLY = DomainError(
    "read_only",
    "You may read this conversation but not write in it.",
    http_status=status.HTTP_403_FORBIDDEN,
)


class ConversationListView(APIView):
    """The caller's conversations, newest activity first: a peer supporter's caseload, a
    service user's own, a supervisor's team and waiting queue (no previews for them)."""

    permission_classes = [SignedIn]

    @extend_schema(responses={200: OpenApiResponse(description="Conversations, newest first")})
    def get(self, request: Request) -> Response:
        user = request_user(request)
        rows = selectors.conversation_list(user)
        reviewed = [row["id"] for row in rows if not row["can_post"]]
        if reviewed:
            # Names of people on other peer supporters' caseloads: a supervisor's review.
            record(
                action="conversations.listed",
                actor=user,
                details={"count": len(rows), "reviewed": len(reviewed)},
            )
        return Response(rows)


class MessageHistoryView(APIView):
    """A page of messages by seq cursor, in ascending order. Reads by non-members (a
    supervisor's review) are audited."""

    permission_classes = [SignedIn]

    @extend_schema(parameters=[HistoryQuerySerializer], responses={200: MessagePageSerializer})
    def get(self, request: Request, conversation_id: str) -> Response:
        user = request_user(request)
        conversation = selectors.get_readable_conversation(user, conversation_id)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cursor: dict[str, Any] = dict(query.validated_data)
        with transaction.atomic():
            page = selectors.message_page(conversation, **cursor)
            if not selectors.may_post(user, conversation):
                record(
                    action="conversation.read",
                    actor=user,
                    target=conversation,
                    details={
                        "via": "api",
                        "after_seq": cursor.get("after_seq"),
                        "before_seq": cursor.get("before_seq"),
                        "count": len(page.messages),
                    },
                )
        return Response(
            {
                "messages": page.messages,
                "next_after_seq": page.next_after_seq,
                "next_before_seq": page.next_before_seq,
                "last_seq": conversation.last_seq,
            }
        )


class MarkReadView(APIView):
    """Read markers are for members (the person and their peer supporter). A supervisor's
    review is audited by the history endpoint and must not show up as a read receipt."""

    permission_classes = [SignedIn]

    @extend_schema(
        request=ReadSerializer, responses={200: OpenApiResponse(description="{seq}: the marker")}
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        user = request_user(request)
        conversation = selectors.get_readable_conversation(user, conversation_id)
        if not selectors.may_post(user, conversation):
            raise READ_ONLY
        serializer = ReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        seq = services.mark_read(
            conversation=conversation, user=user, seq=serializer.validated_data["seq"]
        )
        return Response({"seq": seq})


class CaseNoteListView(APIView):
    """Case notes: the assigned peer supporter and supervisors who may read the conversation.
    Service users never see them. Every listing is audited."""

    permission_classes = [CaseworkStaff]

    def _conversation(self, request: Request, conversation_id: str) -> Any:
        user = request_user(request)
        conversation = selectors.get_readable_conversation(user, conversation_id)
        if not selectors.may_keep_notes(user, conversation):
            raise NO_SUCH_CONVERSATION
        return conversation

    @extend_schema(responses={200: OpenApiResponse(description="Case notes, newest first")})
    def get(self, request: Request, conversation_id: str) -> Response:
        user = request_user(request)
        conversation = self._conversation(request, conversation_id)
        with transaction.atomic():
            notes = selectors.case_notes(conversation)
            record(
                action="case_notes.read",
                actor=user,
                target=conversation,
                details={"count": len(notes)},
            )
        return Response(notes)

    @extend_schema(
        request=CaseNoteSerializer, responses={201: OpenApiResponse(description="The note")}
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        user = request_user(request)
        conversation = self._conversation(request, conversation_id)
        serializer = CaseNoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = serializer.validated_data["body"]
        note = services.add_case_note(conversation=conversation, author=user, body=body)
        return Response(
            selectors.case_note_payload(note, conversation, body=body),
            status=status.HTTP_201_CREATED,
        )


class SavedReplyListView(APIView):
    """GET ?programme=slug: the programme's shared replies and the caller's own.
    POST: a peer supporter's own reply, or (`shared: true`) a supervisor's or admin's
    programme-wide one."""

    permission_classes = [CaseworkStaff]

    @extend_schema(
        parameters=[SavedReplyQuerySerializer],
        responses={200: OpenApiResponse(description="Saved replies, by title")},
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = SavedReplyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        programme = get_visible_programme(user, query.validated_data["programme"])
        replies = selectors.saved_replies_for(user, programme).select_related("programme")
        return Response([selectors.saved_reply_payload(r) for r in replies])

    @extend_schema(
        request=SavedReplySerializer, responses={201: OpenApiResponse(description="The reply")}
    )
    def post(self, request: Request) -> Response:
        user = request_user(request)
        serializer = SavedReplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        programme = get_visible_programme(user, data["programme"])
        reply = services.create_saved_reply(
            programme=programme,
            author=user,
            title=data["title"],
            body=data["body"],
            language=data.get("language") or (programme.languages or ["en"])[0],
            shared=data["shared"],
        )
        return Response(selectors.saved_reply_payload(reply), status=status.HTTP_201_CREATED)


class SavedReplyDetailView(APIView):
    permission_classes = [CaseworkStaff]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, reply_id: int) -> Response:
        user = request_user(request)
        reply = selectors.visible_saved_reply(user, reply_id)
        if reply is None:
            raise NotFound("not_found", "No such saved reply.")
        services.delete_saved_reply(reply=reply, by=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BoundaryConfirmationListView(APIView):
    """GET ?programme=slug: messages with contact details that peer supporters sent after the
    warning (issue 6, item 6), newest first, for supervision. Peer supporters see their own,
    supervisors their team's, programme admins all of the programme's. No message text:
    supervisors open the conversation (audited) to read the message. Pages by `before`."""

    permission_classes = [CaseworkStaff]

    @extend_schema(
        parameters=[BoundaryConfirmationQuerySerializer],
        responses={200: OpenApiResponse(description="Confirmations, newest first")},
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = BoundaryConfirmationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        programme = selectors.boundary_programme(user, data["programme"])
        rows = selectors.boundary_confirmations_for(user, programme)
        if "peer_supporter" in data:
            rows = rows.filter(peer_supporter_id=data["peer_supporter"])
        if "before" in data:
            rows = rows.filter(pk__lt=data["before"])
        return Response(
            [selectors.boundary_confirmation_payload(row) for row in rows[: data["limit"]]]
        )
