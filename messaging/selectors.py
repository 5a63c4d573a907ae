"""Reads for conversations, narrowed to what the user may see, and the message payload."""

from __future__ import annotations

import uuid
from typing import Any

from access.permissions import (
    AnyUser,
    postable_conversation_enrolments,
    readable_conversation_enrolments,
)
from encryption.services import FieldRef, decrypt
from messaging.models import Conversation, Message, SenderRole
from people.models import User
from people.services import participant_field_ref

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
        participant = conversation.enrolment.participant
        name = decrypt(
            data_key=participant.data_key,
            ciphertext=participant.name_ciphertext,
            ref=participant_field_ref(participant.id, "name"),
        )
        return {"id": message.sender_id, "role": message.sender_role, "display_name": name}
    sender = message.sender
    assert isinstance(sender, User)
    return {
        "id": message.sender_id,
        "role": message.sender_role,
        "display_name": sender.first_name or sender.get_username(),
    }


def message_payload(
    message: Message, conversation: Conversation, *, body: str | None = None
) -> dict[str, Any]:
    """The message object of DESIGN.md §4. `body` saves a decryption when the caller has it."""
    if body is None:
        body = decrypt(
            data_key=conversation.data_key,
            ciphertext=message.body_ciphertext,
            ref=message_ref(message.id),
        )
    return {
        "id": str(message.id),
        "conversation": str(conversation.id),
        "seq": message.seq,
        "sender": sender_summary(message, conversation),
        "channel": message.channel,
        "body": body,
        "created_at": message.created_at.isoformat(),
    }


def messages_after(
    conversation: Conversation, *, after_seq: int, limit: int = SYNC_PAGE_SIZE
) -> list[dict[str, Any]]:
    messages = (
        Message.objects.filter(conversation=conversation, seq__gt=after_seq)
        .select_related("sender")
        .order_by("seq")[:limit]
    )
    return [message_payload(m, conversation) for m in messages]
