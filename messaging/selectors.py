"""Reads for conversations, narrowed to what the user may see, and the message payload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    BinaryField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    PositiveBigIntegerField,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from access.permissions import (
    AnyUser,
    has_role,
    postable_conversation_enrolments,
    programmes_with_role,
    readable_conversation_enrolments,
    staff_roles,
)
from encryption.services import FieldRef, decrypt
from messaging.models import (
    BoundaryConfirmation,
    CaseNote,
    Conversation,
    Message,
    ReadMarker,
    SavedReply,
    SenderRole,
    SmsOutbox,
)
from people.models import User
from people.selectors import staff_display_name
from people.services import participant_field_ref
from programmes.models import CaseloadAssignment, Programme, Role, TeamMembership

SYSTEM_NAME = "peerlink"
SYNC_PAGE_SIZE = 200


def _parse_id(conversation_id: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(conversation_id))
    except (ValueError, TypeError, AttributeError):
        return None


def readable_conversation(user: AnyUser, conversation_id: object) -> Conversation | None:
    """The conversation, if this user may read it; None if it does not exist or they may not
    (callers answer both the same way)."""
    pk = _parse_id(conversation_id)
    if pk is None:
        return None
    return (
        Conversation.objects.select_related("data_key", "enrolment__participant")
        .filter(pk=pk, enrolment__in=readable_conversation_enrolments(user))
        .first()
    )


def postable_conversation_ids(user: AnyUser) -> set[uuid.UUID]:
    """The conversations a user takes part in: what their sockets follow."""
    return set(
        Conversation.objects.filter(
            enrolment__in=postable_conversation_enrolments(user)
        ).values_list("pk", flat=True)
    )


def may_post(user: AnyUser, conversation: Conversation) -> bool:
    return postable_conversation_enrolments(user).filter(pk=conversation.enrolment_id).exists()


def message_ref(message_id: uuid.UUID) -> FieldRef:
    return FieldRef(table="messaging_message", row=str(message_id), field="body")


def sender_summary(message: Message, conversation: Conversation) -> dict[str, Any]:
    if message.sender_id is None or message.sender_role == SenderRole.SYSTEM:
        return {"id": None, "role": SenderRole.SYSTEM.value, "display_name": SYSTEM_NAME}
    if message.sender_role == SenderRole.PARTICIPANT:
        name = _participant_name(conversation)
        return {"id": message.sender_id, "role": message.sender_role, "display_name": name}
    sender = message.sender
    assert isinstance(sender, User)
    return {
        "id": message.sender_id,
        "role": message.sender_role,
        "display_name": staff_display_name(sender),
    }


def _participant_name(conversation: Conversation) -> str:
    # Memoised on the instance: a page of messages decrypts the name once, not per message.
    cached: str | None = conversation.__dict__.get("_participant_name")
    if cached is None:
        participant = conversation.enrolment.participant
        cached = decrypt(
            data_key=participant.data_key,
            ciphertext=participant.name_ciphertext,
            ref=participant_field_ref(participant.id, "name"),
        )
        conversation.__dict__["_participant_name"] = cached
    return cached


class _LookUp:
    """`message_payload(delivery=...)` default: read it from the message's outbox."""


LOOK_UP = _LookUp()


def _delivery_status(message: Message) -> str | None:
    try:
        outbox = message.sms_outbox  # selected with the message by every caller
    except SmsOutbox.DoesNotExist:
        return None
    return outbox.delivery_status


def message_payload(
    message: Message,
    conversation: Conversation,
    *,
    body: str | None = None,
    delivery: str | _LookUp | None = LOOK_UP,
) -> dict[str, Any]:
    """The message object of DESIGN.md §4, plus `delivery` (where its SMS stands) on messages
    that were also sent as an SMS. `body` and `delivery` (None: not sent as an SMS) save work
    when the caller has them."""
    if body is None:
        body = decrypt(
            data_key=conversation.data_key,
            ciphertext=message.body_ciphertext,
            ref=message_ref(message.id),
        )
    payload = {
        "id": str(message.id),
        "conversation": str(conversation.id),
        "seq": message.seq,
        "sender": sender_summary(message, conversation),
        "channel": message.channel,
        "body": body,
        "created_at": message.created_at.isoformat(),
    }
    if isinstance(delivery, _LookUp):
        delivery = _delivery_status(message)
    if delivery is not None:
        payload["delivery"] = delivery
    return payload


def messages_after(
    conversation: Conversation, *, after_seq: int, limit: int = SYNC_PAGE_SIZE
) -> list[dict[str, Any]]:
    messages = (
        Message.objects.filter(conversation=conversation, seq__gt=after_seq)
        .select_related("sender", "sms_outbox")
        .order_by("seq")[:limit]
    )
    return [message_payload(m, conversation) for m in messages]


# --- REST reads (conversation list, history pages, case notes, saved replies) ---------------

LIST_PREVIEW_CHARS = 80
HISTORY_PAGE_DEFAULT = 100
HISTORY_PAGE_MAX = 500
MAX_ROW_ID = 2**63 - 1  # the largest value a (big) integer column compares against


def get_readable_conversation(user: AnyUser, conversation_id: object) -> Conversation:
    """The conversation with everything a history page decrypts, or NotFound when it does
    not exist or this user may not read it (the same answer for both)."""
    from peerlink.errors import NotFound

    pk = _parse_id(conversation_id)
    conversation = (
        Conversation.objects.select_related(
            "data_key", "enrolment__participant__data_key", "enrolment__programme"
        )
        .filter(pk=pk, enrolment__in=readable_conversation_enrolments(user))
        .first()
        if pk is not None
        else None
    )
    if conversation is None:
        raise NotFound("not_found", "No such conversation.")
    return conversation


def _staff_summary(user: User) -> dict[str, Any]:
    return {"id": user.id, "display_name": user.get_full_name() or user.get_username()}


def conversation_list(user: AnyUser) -> list[dict[str, Any]]:
    """The caller's conversations, newest activity first, in a fixed number of queries.

    Unread counts only the messages after the caller's read marker that someone else sent.
    The preview (the start of the last message) is decrypted only for members who post in
    the conversation; supervisors reviewing a caseload see no text here.
    """
    if not user.is_authenticated:
        return []
    read_seq = Coalesce(
        Subquery(
            ReadMarker.objects.filter(conversation=OuterRef("pk"), user=user).values("seq")[:1]
        ),
        Value(0),
        output_field=PositiveBigIntegerField(),
    )
    unread = Coalesce(
        Subquery(
            Message.objects.filter(conversation=OuterRef("pk"), seq__gt=OuterRef("read_seq"))
            .exclude(sender=user)
            .order_by()
            .values("conversation")
            .annotate(n=Count("pk"))
            .values("n")[:1]
        ),
        Value(0),
        output_field=PositiveBigIntegerField(),
    )
    is_member = Exists(postable_conversation_enrolments(user).filter(pk=OuterRef("enrolment_id")))
    last = Message.objects.filter(conversation=OuterRef("pk"), seq=OuterRef("last_seq"))
    conversations = (
        Conversation.objects.filter(enrolment__in=readable_conversation_enrolments(user))
        .select_related("data_key", "enrolment__participant__data_key", "enrolment__programme")
        .prefetch_related(
            Prefetch(
                "enrolment__assignments",
                queryset=CaseloadAssignment.objects.filter(ended_at__isnull=True).select_related(
                    "peer_supporter"
                ),
                to_attr="active_assignments",
            )
        )
        .annotate(read_seq=read_seq, is_member=is_member)
        .annotate(
            unread=unread,
            # Fetched only for members: a supervisor's query never carries message text.
            last_message_id=Case(
                When(is_member=True, then=Subquery(last.values("pk")[:1])),
                default=None,
                output_field=UUIDField(),
            ),
            last_message_ciphertext=Case(
                When(is_member=True, then=Subquery(last.values("body_ciphertext")[:1])),
                default=None,
                output_field=BinaryField(),
            ),
        )
        .order_by(F("last_message_at").desc(nulls_last=True), "-created_at", "pk")
    )
    return [_conversation_row(c) for c in conversations]


def _conversation_row(conversation: Any) -> dict[str, Any]:
    enrolment = conversation.enrolment
    participant = enrolment.participant
    active = enrolment.active_assignments
    preview = None
    if conversation.is_member and conversation.last_message_ciphertext is not None:
        body = decrypt(
            data_key=conversation.data_key,
            ciphertext=bytes(conversation.last_message_ciphertext),
            ref=message_ref(conversation.last_message_id),
        )
        preview = body[:LIST_PREVIEW_CHARS]
    return {
        "id": str(conversation.id),
        "enrolment": str(enrolment.id),
        "programme": enrolment.programme.slug,
        "participant": {
            "id": str(participant.id),
            "display_name": decrypt(
                data_key=participant.data_key,
                ciphertext=participant.name_ciphertext,
                ref=participant_field_ref(participant.id, "name"),
            ),
            "preferred_channel": participant.preferred_channel,
        },
        "peer_supporter": _staff_summary(active[0].peer_supporter) if active else None,
        "can_post": bool(conversation.is_member),
        "last_seq": conversation.last_seq,
        "last_message_at": conversation.last_message_at.isoformat()
        if conversation.last_message_at
        else None,
        "unread": int(conversation.unread),
        "preview": preview,
    }


@dataclass(frozen=True)
class MessagePage:
    messages: list[dict[str, Any]]
    next_after_seq: int
    next_before_seq: int | None


def message_page(
    conversation: Conversation,
    *,
    after_seq: int | None = None,
    before_seq: int | None = None,
    limit: int = HISTORY_PAGE_DEFAULT,
) -> MessagePage:
    """One page of history in ascending seq order.

    - `after_seq`: the first `limit` messages after it (catching up, like `sync`);
    - `before_seq`: the last `limit` messages before it (scrolling back);
    - neither: the newest `limit` messages.
    `next_after_seq` continues forward from this page; `next_before_seq` continues backward
    (None when the page reaches the first message).
    """
    if after_seq is not None and before_seq is not None:
        raise ValueError("after_seq and before_seq exclude each other")
    limit = max(1, min(limit, HISTORY_PAGE_MAX))
    qs = Message.objects.filter(conversation=conversation).select_related("sender", "sms_outbox")
    if after_seq is not None:
        rows = list(qs.filter(seq__gt=after_seq).order_by("seq")[:limit])
    else:
        if before_seq is not None:
            qs = qs.filter(seq__lt=before_seq)
        rows = list(qs.order_by("-seq")[:limit])
        rows.reverse()
    messages = [message_payload(m, conversation) for m in rows]
    next_after = rows[-1].seq if rows else (after_seq or 0)
    next_before = rows[0].seq if rows and rows[0].seq > 1 else None
    return MessagePage(messages, next_after, next_before)


def case_notes(conversation: Conversation) -> list[dict[str, Any]]:
    """The conversation's case notes, newest first, decrypted. Callers check who may read them
    and audit the read."""
    notes = CaseNote.objects.filter(conversation=conversation).select_related("author")
    return [case_note_payload(note, conversation) for note in notes.order_by("-created_at", "-pk")]


def case_note_payload(
    note: CaseNote, conversation: Conversation, *, body: str | None = None
) -> dict[str, Any]:
    from messaging.services import note_ref

    if body is None:
        body = decrypt(
            data_key=conversation.data_key,
            ciphertext=bytes(note.body_ciphertext),
            ref=note_ref(note.id),
        )
    return {
        "id": str(note.id),
        "conversation": str(conversation.id),
        "author": _staff_summary(note.author),
        "body": body,
        "created_at": note.created_at.isoformat(),
    }


def may_keep_notes(user: AnyUser, conversation: Conversation) -> bool:
    """Case notes are for staff working with the person: the assigned peer supporter(s) and
    supervisors who may read the conversation. Never the person themself."""
    if not user.is_authenticated or conversation.enrolment.participant.user_id == user.pk:
        return False
    if may_post(user, conversation):
        return True
    return has_role(user, conversation.enrolment.programme, Role.SUPERVISOR) and (
        readable_conversation_enrolments(user).filter(pk=conversation.enrolment_id).exists()
    )


def saved_replies_for(user: AnyUser, programme: Programme) -> QuerySet[SavedReply]:
    """Programme-wide replies and the caller's own, for casework staff of the programme."""
    if not has_role(user, programme, Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN):
        return SavedReply.objects.none()
    return SavedReply.objects.filter(
        Q(peer_supporter__isnull=True) | Q(peer_supporter=user), programme=programme
    ).order_by("title", "id")


def visible_saved_reply(user: AnyUser, reply_id: int) -> SavedReply | None:
    """A saved reply the caller can see (their own, or a shared one of a programme where they
    do casework), else None."""
    if not user.is_authenticated or not 0 < reply_id <= MAX_ROW_ID:
        return None
    casework = programmes_with_role(user, Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN)
    return (
        SavedReply.objects.select_related("programme")
        .filter(
            Q(peer_supporter=user) | Q(peer_supporter__isnull=True, programme__in=casework),
            pk=reply_id,
        )
        .first()
    )


def saved_reply_payload(reply: SavedReply) -> dict[str, Any]:
    return {
        "id": reply.id,
        "programme": reply.programme.slug,
        "title": reply.title,
        "body": reply.body,
        "language": reply.language,
        "shared": reply.peer_supporter_id is None,
        "created_at": reply.created_at.isoformat(),
    }


BOUNDARY_PAGE_DEFAULT = 100
BOUNDARY_PAGE_MAX = 500


def boundary_programme(user: AnyUser, slug: str) -> Programme:
    """A programme where the user may list confirmations: peer supporters (their own),
    supervisors (their team's) and programme admins (all). Any other answers 404."""
    programme = (
        programmes_with_role(user, Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN)
        .filter(slug=slug)
        .first()
    )
    if programme is None:
        from peerlink.errors import NotFound

        raise NotFound("not_found", "Not found.")
    return programme


def boundary_confirmations_for(
    user: AnyUser, programme: Programme
) -> QuerySet[BoundaryConfirmation]:
    """Contact details that peer supporters confirmed sending (issue 6, item 6), newest
    first: a peer supporter's own; a supervisor's team's, by the team rules of
    access.permissions (their peer supporters' memberships in this programme); every one of
    the programme for its admins. Rows carry ids and kinds, never message text."""
    if not user.is_authenticated:
        return BoundaryConfirmation.objects.none()
    roles = staff_roles(user, programme)
    rules: list[Q] = []
    if Role.ADMIN in roles:
        rules.append(Q())
    if Role.PEER_SUPPORTER in roles:
        rules.append(Q(peer_supporter=user))
    if Role.SUPERVISOR in roles:
        team = TeamMembership.objects.filter(programme=programme, team__supervisor=user)
        rules.append(Q(peer_supporter__in=team.values("peer_supporter_id")))
    if not rules:
        return BoundaryConfirmation.objects.none()
    rule = rules[0]
    for more in rules[1:]:
        rule |= more
    return (
        BoundaryConfirmation.objects.filter(
            rule, message__conversation__enrolment__programme=programme
        )
        .select_related("peer_supporter")
        .annotate(conversation_ref=F("message__conversation_id"), message_seq=F("message__seq"))
        # By id, newest first: the order the API's `before` cursor pages through.
        .order_by("-pk")
    )


def boundary_confirmation_payload(confirmation: Any) -> dict[str, Any]:
    """One row of the listing (annotated by `boundary_confirmations_for`)."""
    return {
        "id": confirmation.id,
        "conversation": str(confirmation.conversation_ref),
        "message": str(confirmation.message_id),
        "seq": confirmation.message_seq,
        "peer_supporter": _staff_summary(confirmation.peer_supporter),
        "kinds": list(confirmation.kinds),
        "created_at": confirmation.created_at.isoformat(),
    }
