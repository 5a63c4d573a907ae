"""Writes for conversations. `post_message` is the one way any message enters a conversation:
web, SMS, automated or system (DESIGN.md §3, data flow 1); `post_automated_messages` is its
batch form for the scheduler's texts."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from access.permissions import has_role
from audit.services import record
from encryption.models import DataKeyPurpose
from encryption.services import FieldRef, create_data_key, encrypt
from messaging import boundaries, events
from messaging.metrics import count_messages_on_commit
from messaging.models import (
    BoundaryConfirmation,
    CaseNote,
    Conversation,
    DeliveryStatus,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    ReadMarker,
    SavedReply,
    SenderRole,
    SmsOutbox,
)
from messaging.selectors import message_payload, message_ref
from messaging.sms import backends as sms_backends
from messaging.sms.outbox import after_commit_ring
from peerlink.bulk import update_rows
from peerlink.errors import DomainError, NotFound
from people.models import Channel, Participant, User
from people.selectors import sms_allowed, sms_allowed_ids
from programmes.models import CaseloadAssignment, Enrolment, EnrolmentStatus, Programme, Role

MAX_BODY_CHARS = 4000
MAX_CLIENT_ID_CHARS = 80
Row = TypeVar("Row", bound=Model)


@dataclass(frozen=True)
class PostedMessage:
    message: Message
    payload: dict[str, Any]
    created: bool


def open_conversation(*, enrolment: Enrolment) -> Conversation | None:
    """The enrolment's conversation, created on first call; None when the arm has no peer
    support (DESIGN.md §1: those people are never offered a chat)."""
    if not enrolment.arm.peer_support:
        return None
    existing = Conversation.objects.filter(enrolment=enrolment).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        return Conversation.objects.create(
            enrolment=enrolment, data_key=create_data_key(purpose=DataKeyPurpose.CONVERSATION)
        )


def validate_body(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise DomainError("empty_body", "A message needs some text.")
    if len(body) > MAX_BODY_CHARS:
        raise DomainError("body_too_long", f"A message holds at most {MAX_BODY_CHARS} characters.")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (JSON can spell them) are not text: they can't be stored or sent.
        raise DomainError("invalid_body", "A message must be Unicode text.") from None
    return body


def validate_client_id(client_id: object) -> str:
    if (
        not isinstance(client_id, str)
        or not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS
        or not client_id.isprintable()
    ):
        raise DomainError(
            "invalid_client_id",
            f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} printable characters.",
        )
    return client_id


MAX_SMS_BODY_CHARS = sms_backends.MAX_BODY_CHARS  # Twilio's limit for one message's body


def _sends_sms(
    conversation: Conversation, sender_role: str, channel: str, deliver_by_sms: bool | None
) -> bool:
    """Whether the message also goes out as an SMS: when the person reads by SMS and someone
    else wrote it. Notices (`system`) stay in the thread unless the caller says otherwise."""
    if deliver_by_sms is not None:
        return deliver_by_sms
    if channel == MessageChannel.SYSTEM or sender_role == SenderRole.PARTICIPANT:
        return False
    return conversation.enrolment.participant.preferred_channel == Channel.SMS


class NotAMember(DomainError):
    """The sender does not take part in this conversation (or it does not exist)."""

    def __init__(self) -> None:
        super().__init__("not_member", "You do not take part in this conversation.")


def _member_role(conversation: Conversation, user: User) -> str | None:
    """The user's role in the conversation, with one cheap query: the person themself or an
    assigned peer supporter, while the enrolment is active or paused."""
    enrolment = conversation.enrolment
    if enrolment.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED):
        return None
    if enrolment.participant.user_id == user.pk:
        return SenderRole.PARTICIPANT
    if CaseloadAssignment.objects.filter(
        enrolment_id=enrolment.pk, peer_supporter=user, ended_at__isnull=True
    ).exists():
        return SenderRole.PEER_SUPPORTER
    return None


class HeldForBoundaries(DomainError):
    """A peer supporter's message holds contact details (issue 6, item 6): nothing was stored.
    Sent again with `confirm_contact_details`, it goes out and the confirmation is recorded.
    Carries the kinds found, never the details."""

    def __init__(self, kinds: list[str]) -> None:
        super().__init__(
            "contact_details",
            f"This message seems to hold {boundaries.kinds_label(kinds)}. Sharing contact "
            "details takes the relationship off the supervised service: confirm to send it "
            "anyway (supervisors see that you did).",
            http_status=409,
        )
        self.kinds = kinds


def _contact_details_to_confirm(
    conversation: Conversation, sender_role: str, body: str, confirmed: bool | None
) -> list[str]:
    """The kinds of contact details in a peer supporter's message that they have confirmed
    (to record with the message); raises HeldForBoundaries while they have not. `confirmed`
    None: not the chat path, nothing is checked. The person's own messages are never held."""
    if confirmed is None or sender_role != SenderRole.PEER_SUPPORTER:
        return []
    region = settings.PHONE_DEFAULT_REGION
    kinds = boundaries.contact_details_in(body, region=region)
    if boundaries.PHONE in kinds:
        # Only now are the programme's own numbers (crisis lines, SMS number) needed: one
        # query, for messages with a phone number in them only.
        programme = conversation.enrolment.programme
        kinds = boundaries.contact_details_in(body, region=region, programme=programme)
    if kinds and not confirmed:
        raise HeldForBoundaries(kinds)
    return kinds


def _record_boundary_confirmation(message: Message, kinds: list[str]) -> None:
    assert message.sender is not None
    confirmation = BoundaryConfirmation.objects.create(
        message=message, peer_supporter=message.sender, kinds=kinds, created_at=message.created_at
    )
    record(
        action="boundary.confirmed",
        actor=message.sender,
        target=confirmation,
        details={
            "conversation": str(message.conversation_id),
            "message": str(message.pk),
            "kinds": kinds,
        },
    )


def post_as_member(
    *,
    conversation_id: uuid.UUID,
    user: User,
    channel: str,
    body: str,
    client_id: str,
    confirm_contact_details: bool = False,
) -> PostedMessage:
    """The chat path: post as a member, checking membership inside the message's own
    transaction (under the conversation's lock) rather than with the broad visibility rules,
    which cost more than the write. Raises NotAMember for anyone else, and HeldForBoundaries
    for a peer supporter's message with contact details unless `confirm_contact_details`."""
    return post_message(
        conversation_id=conversation_id,
        sender=user,
        sender_role="",
        channel=channel,
        body=body,
        client_id=client_id,
        member_only=True,
        confirm_contact_details=confirm_contact_details,
    )


def first_row(rows: QuerySet[Row]) -> Row | None:
    """The row of a query that matches at most one (by a unique key), without the ORDER BY
    that `.first()` adds: ordering makes Django hash every selected column of every joined
    table, a tenth of the inbound SMS path's time (docs/performance.md)."""
    found = list(rows[:1])
    return found[0] if found else None


def post_message(
    *,
    conversation_id: uuid.UUID,
    sender: User | None,
    sender_role: str,
    channel: str,
    body: str,
    client_id: str,
    member_only: bool = False,
    deliver_by_sms: bool | None = None,
    sms_purpose: str | None = None,
    confirm_contact_details: bool | None = None,
    reserved_keyword: bool = False,
    sms_expires_at: dt.datetime | None = None,
) -> PostedMessage:
    """Store a message exactly once and ring the conversation's doorbell after commit.

    One transaction: lock the conversation, return the first message if this client id was
    seen, else encrypt, take the next sequence number, insert, and queue an SMS when the
    recipient reads by SMS (or `deliver_by_sms` says so). The same client id twice gives the
    first message back. With `confirm_contact_details` given (the chat path), a peer
    supporter's message with contact details is held unless it is true (HeldForBoundaries).
    A person's message moves their replies to the channel they wrote on, is screened for
    crisis phrases and may get automatic replies (crisis resources, "away"); none of that for
    a `reserved_keyword` text (STOP, START, HELP: the keyword's own action answers it).
    An SMS given `sms_expires_at` (scheduled texts) is not sent after that instant.
    """
    body = validate_body(body)
    client_id = validate_client_id(client_id)
    if channel not in MessageChannel.values or (
        sender_role not in SenderRole.values and not member_only
    ):
        raise DomainError("invalid_message", "Unknown channel or sender role.")
    with transaction.atomic():
        conversation = first_row(
            Conversation.objects.select_for_update(of=("self",))
            .select_related("data_key", "enrolment__participant__data_key", "enrolment__programme")
            .filter(pk=conversation_id)
        )
        if conversation is None:
            if member_only:
                raise NotAMember()
            raise NotFound("not_found", "No such conversation.")
        if member_only:
            assert sender is not None
            role = _member_role(conversation, sender)
            if role is None:
                raise NotAMember()
            sender_role = role
        existing = first_row(
            Message.objects.filter(conversation=conversation, client_id=client_id).select_related(
                "sender", "sms_outbox"
            )
        )
        if existing is not None:
            return PostedMessage(existing, message_payload(existing, conversation), created=False)
        by_sms = _sends_sms(conversation, sender_role, channel, deliver_by_sms)
        if by_sms and len(body) > MAX_SMS_BODY_CHARS:
            raise DomainError(
                "too_long_for_sms",
                f"This person reads by SMS: a message holds at most {MAX_SMS_BODY_CHARS} "
                "characters.",
            )
        # After membership and the client id: a non-member still gets not_member, a resend
        # of a stored message gets it back (and no second confirmation).
        confirmed_kinds = _contact_details_to_confirm(
            conversation, sender_role, body, confirm_contact_details
        )
        now = timezone.now()
        message = _next_message(
            conversation,
            sender=sender,
            sender_role=sender_role,
            channel=channel,
            body=body,
            client_id=client_id,
            now=now,
        )
        message.save(force_insert=True)
        count_messages_on_commit([(channel, sender_role)])
        Conversation.objects.filter(pk=conversation.pk).update(
            last_seq=message.seq, last_message_at=now
        )
        if confirmed_kinds:
            _record_boundary_confirmation(message, confirmed_kinds)
        outbox = (
            _queue_sms_for(message, conversation, channel, sms_purpose, sms_expires_at)
            if by_sms
            else None
        )
        delivery = outbox.delivery_status if outbox is not None else None
        payload = message_payload(message, conversation, body=body, delivery=delivery)
        # The message's doorbell before the send's: sockets hear the message (delivery
        # pending) before any news of its SMS, so a status never seems to move back.
        transaction.on_commit(lambda: events.message_posted(conversation.pk, payload))
        if outbox is not None and outbox.status == OutboxStatus.PENDING:
            after_commit_ring(outbox.pk)
        participant = conversation.enrolment.participant
        if (
            sender_role == SenderRole.PARTICIPANT
            and not reserved_keyword
            and channel in (MessageChannel.WEB, MessageChannel.SMS)
            and participant.preferred_channel != channel
        ):
            # Replies follow the person to where they wrote (messaging/actions): to SMS only
            # with SMS consent.
            from messaging.actions.reply_channel import follow_channel

            follow_channel(participant=participant, channel=channel, via=channel)
        # After the channel is settled: automatic replies (a crisis reply above all) go where
        # the person now reads.
        if sender_role == SenderRole.PARTICIPANT and not reserved_keyword:
            from messaging.actions.participant_message import after_participant_message

            after_participant_message(message=message, conversation=conversation, body=body)
        elif sender_role == SenderRole.PEER_SUPPORTER:
            from messaging.actions.participant_message import end_cover

            end_cover(conversation=conversation)
    return PostedMessage(message, payload, created=True)


def _queue_sms_for(
    message: Message,
    conversation: Conversation,
    channel: str,
    sms_purpose: str | None,
    expires_at: dt.datetime | None = None,
) -> SmsOutbox:
    """The message's outbox row (the caller rings for it, after the message's own doorbell).
    A text written while the person has no SMS consent is recorded as not sent, then and for
    good: it is not sent later, should they text START (only the answer to their own HELP
    needs no consent)."""
    purpose = sms_purpose or (
        OutboxPurpose.AUTOMATED if channel == MessageChannel.AUTOMATED else OutboxPurpose.CHAT
    )
    participant = conversation.enrolment.participant
    sendable = purpose == OutboxPurpose.KEYWORD_REPLY or sms_allowed(participant)
    outbox = _outbox_row(message, participant, purpose, sendable=sendable, expires_at=expires_at)
    outbox.save(force_insert=True)
    return outbox


def _next_message(
    conversation: Conversation,
    *,
    sender: User | None,
    sender_role: str,
    channel: str,
    body: str,
    client_id: str,
    now: dt.datetime,
) -> Message:
    """The conversation's next message, encrypted, not yet saved; the conversation (locked by
    the caller) counts it."""
    message_id = uuid.uuid4()
    conversation.last_seq += 1
    return Message(
        id=message_id,
        conversation=conversation,
        seq=conversation.last_seq,
        sender=sender,
        sender_role=sender_role,
        channel=channel,
        body_ciphertext=encrypt(
            data_key=conversation.data_key, plaintext=body, ref=message_ref(message_id)
        ),
        client_id=client_id,
        created_at=now,
    )


def _outbox_row(
    message: Message,
    participant: Participant,
    purpose: str,
    *,
    sendable: bool,
    expires_at: dt.datetime | None,
) -> SmsOutbox:
    return SmsOutbox(
        message=message,
        participant=participant,
        purpose=purpose,
        status=OutboxStatus.PENDING if sendable else OutboxStatus.SKIPPED,
        delivery_status=DeliveryStatus.PENDING if sendable else DeliveryStatus.NOT_SENT,
        expires_at=expires_at,
    )


@dataclass(frozen=True)
class AutomatedPost:
    """One automated text for a thread (`post_automated_messages`); an SMS reader's copy is
    not sent after `sms_expires_at`."""

    conversation_id: uuid.UUID
    client_id: str
    body: str
    sms_expires_at: dt.datetime | None = None


def post_automated_messages(*, posts: Sequence[AutomatedPost]) -> list[Message]:
    """`post_message` for a batch of automated texts (the scheduler's): the same record
    (encrypted, the next sequence number, idempotent on the client id, an outbox row for an
    SMS reader, skipped without SMS consent, doorbells after commit), with each statement
    run once per batch instead of once per text (DESIGN.md §7: 300 sends a second). Returns
    each post's message, in order. Raises, writing nothing, when any post is invalid or its
    conversation is gone: the caller retries the posts one by one to find it."""
    if not posts:
        return []
    for post in posts:
        validate_body(post.body)
        validate_client_id(post.client_id)
    with transaction.atomic():
        ids = {post.conversation_id for post in posts}
        # In key order, so that two batches sharing conversations can't deadlock.
        conversations = {
            conversation.pk: conversation
            for conversation in Conversation.objects.select_for_update(of=("self",))
            .select_related("data_key", "enrolment__participant")
            .filter(pk__in=ids)
            .order_by("pk")
        }
        if len(conversations) != len(ids):
            raise NotFound("not_found", "No such conversation.")
        messages: dict[tuple[uuid.UUID, str], Message] = {
            (message.conversation_id, message.client_id): message
            for message in Message.objects.filter(
                conversation_id__in=ids, client_id__in={post.client_id for post in posts}
            )
        }
        readers = {
            c.enrolment.participant_id
            for c in conversations.values()
            if c.enrolment.participant.preferred_channel == Channel.SMS
        }
        may_text = sms_allowed_ids(readers) if readers else set()
        now = timezone.now()
        new: list[tuple[Message, SmsOutbox | None, str]] = []
        for post in posts:
            key = (post.conversation_id, post.client_id)
            if key in messages:
                continue
            conversation = conversations[post.conversation_id]
            participant = conversation.enrolment.participant
            by_sms = participant.pk in readers
            if by_sms and len(post.body) > MAX_SMS_BODY_CHARS:
                raise DomainError("too_long_for_sms", "An automated text is too long for SMS.")
            message = messages[key] = _next_message(
                conversation,
                sender=None,
                sender_role=SenderRole.SYSTEM,
                channel=MessageChannel.AUTOMATED,
                body=post.body,
                client_id=post.client_id,
                now=now,
            )
            outbox = (
                _outbox_row(
                    message,
                    participant,
                    OutboxPurpose.AUTOMATED,
                    sendable=participant.pk in may_text,
                    expires_at=post.sms_expires_at,
                )
                if by_sms
                else None
            )
            new.append((message, outbox, post.body))
        Message.objects.bulk_create([message for message, _, _ in new])
        count_messages_on_commit((m.channel, m.sender_role) for m, _, _ in new)
        touched = {message.conversation_id for message, _, _ in new}
        for pk in touched:
            conversations[pk].last_message_at = now
        update_rows([conversations[pk] for pk in touched], ["last_seq", "last_message_at"])
        SmsOutbox.objects.bulk_create([outbox for _, outbox, _ in new if outbox is not None])
        for message, outbox, body in new:
            conversation = conversations[message.conversation_id]
            delivery = outbox.delivery_status if outbox is not None else None
            payload = message_payload(message, conversation, body=body, delivery=delivery)
            # As in post_message: the message's doorbell before its SMS's.
            ring = functools.partial(events.message_posted, conversation.pk, payload)
            transaction.on_commit(ring)
            if outbox is not None and outbox.status == OutboxStatus.PENDING:
                after_commit_ring(outbox.pk)
    return [messages[(post.conversation_id, post.client_id)] for post in posts]


def mark_read(*, conversation: Conversation, user: User, seq: int) -> int:
    """Move the user's read marker forward to `seq` (never back, never past the last message).
    Returns the marker's position."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise DomainError("invalid_seq", "seq must be a whole number, 0 or more.")
    with transaction.atomic():
        last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation.pk)
        target = min(seq, last_seq)
        marker, _ = ReadMarker.objects.get_or_create(conversation=conversation, user=user)
        moved = ReadMarker.objects.filter(pk=marker.pk, seq__lt=target).update(seq=target)
        if moved:
            transaction.on_commit(lambda: events.read_moved(conversation.pk, target, user.pk))
            return target
        return ReadMarker.objects.values_list("seq", flat=True).get(pk=marker.pk)


def note_ref(note_id: uuid.UUID) -> FieldRef:
    return FieldRef(table="messaging_casenote", row=str(note_id), field="body")


def add_case_note(*, conversation: Conversation, author: User, body: str) -> CaseNote:
    from audit.services import record

    body = validate_body(body)
    with transaction.atomic():
        note_id = uuid.uuid4()
        note = CaseNote(
            id=note_id,
            conversation=conversation,
            author=author,
            body_ciphertext=encrypt(
                data_key=conversation.data_key, plaintext=body, ref=note_ref(note_id)
            ),
        )
        note.save(force_insert=True)
        record(
            action="case_note.created",
            actor=author,
            target=note,
            details={"conversation": str(conversation.pk)},
        )
    return note


SAVED_REPLY_TITLE_CHARS = 120


def create_saved_reply(
    *,
    programme: Programme,
    author: User,
    title: str,
    body: str,
    language: str,
    shared: bool,
) -> SavedReply:
    """A peer supporter's own reply (`shared` false), or a programme-wide one written by a
    supervisor or programme admin (`shared` true)."""
    if shared and not has_role(author, programme, Role.SUPERVISOR, Role.ADMIN):
        raise DomainError(
            "forbidden",
            "Only supervisors and programme admins write shared replies.",
            http_status=403,
        )
    if not shared and not has_role(author, programme, Role.PEER_SUPPORTER):
        raise DomainError(
            "forbidden", "Only peer supporters keep their own replies.", http_status=403
        )
    if not isinstance(title, str) or not title.strip() or len(title) > SAVED_REPLY_TITLE_CHARS:
        raise DomainError(
            "invalid_title", f"A title holds 1 to {SAVED_REPLY_TITLE_CHARS} characters."
        )
    body = validate_body(body)
    if language not in (programme.languages or []):
        raise DomainError("invalid_language", "The programme does not offer this language.")
    with transaction.atomic():
        return SavedReply.objects.create(
            programme=programme,
            peer_supporter=None if shared else author,
            title=title,
            body=body,
            language=language,
        )


def delete_saved_reply(*, reply: SavedReply, by: User) -> None:
    """Owners delete their own replies; supervisors and admins of the programme delete shared
    ones."""
    if reply.peer_supporter_id is None:
        allowed = has_role(by, reply.programme, Role.SUPERVISOR, Role.ADMIN)
    else:
        allowed = reply.peer_supporter_id == by.pk
    if not allowed:
        raise DomainError(
            "forbidden", "Your role does not allow deleting this reply.", http_status=403
        )
    with transaction.atomic():
        SavedReply.objects.filter(pk=reply.pk).delete()


def notify_open_conversations(*, participant: Participant, body: str, client_id: str) -> None:
    """A notice (channel `system`, never texted) in each open conversation of the person."""
    conversations = Conversation.objects.filter(
        enrolment__participant=participant,
        enrolment__status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED],
    ).values_list("pk", flat=True)
    for conversation_id in conversations:
        post_message(
            conversation_id=conversation_id,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.SYSTEM,
            body=body,
            client_id=client_id,
        )
