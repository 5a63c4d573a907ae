"""SMS in (DESIGN.md §3, data flow 2), after the webhook's signature and fields are checked:
idempotent on the MessageSid -> the sender by the phone blind index -> reserved keywords
first -> an open survey session (a registered handler) -> otherwise `post_message` into the
person's conversation, or the intake when no conversation can take it.

One transaction per webhook: a redelivered webhook (the same MessageSid) changes nothing,
and a failure anywhere leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from encryption.services import blind_index
from messaging.actions.reply_channel import follow_channel
from messaging.actions.sms_consent import (
    has_opted_out,
    hold_own_sends,
    opt_in_to_sms,
    opt_out_of_sms,
)
from messaging.models import (
    Conversation,
    InboundOutcome,
    InboundSms,
    IntakeReason,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxTemplate,
    SenderRole,
)
from messaging.services import post_message
from messaging.sms import texts
from messaging.sms.intake import record_intake
from messaging.sms.keywords import Keyword, keyword_of
from messaging.sms.outbox import queue_sms, queued_recently
from people.models import Channel, ConsentSource, Participant
from people.selectors import find_participant_by_phone
from programmes.models import Enrolment, EnrolmentStatus, Programme


@dataclass(frozen=True)
class InboundText:
    """A checked inbound webhook: `sender` is E.164, `body` at most 4,000 characters."""

    message_sid: str
    sender: str
    recipient: str
    body: str
    num_media: int
    opt_out_type: str = ""  # Twilio's name for a keyword it acted on (Advanced Opt-Out)

    @cached_property
    def keyword(self) -> Keyword | None:
        """The reserved keyword the text is, read once per webhook."""
        return keyword_of(self.body, self.opt_out_type)


@dataclass(frozen=True)
class InboundResult:
    outcome: str  # an InboundOutcome, or "duplicate" for a MessageSid already handled


# Handlers that may take a text before it goes into the conversation (the survey session of
# issue 8 registers one): called as handler(participant=..., enrolment=..., text=...,
# inbound=...) inside the webhook's transaction; True when the text was taken.
InboundHandler = Callable[..., bool]
_handlers: list[InboundHandler] = []


def register_inbound_handler(handler: InboundHandler) -> None:
    if handler not in _handlers:
        _handlers.append(handler)


def unregister_inbound_handler(handler: InboundHandler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


@dataclass(frozen=True)
class Thread:
    enrolment: Enrolment | None
    conversation: Conversation | None


def _sender(phone: str) -> tuple[Participant | None, list[Enrolment]]:
    """The person with this number and their enrolments (newest first), in one query."""
    enrolments = list(
        Enrolment.objects.filter(participant__phone_index=blind_index(phone))
        .select_related("participant__user", "participant__data_key", "programme", "conversation")
        .order_by("-enrolled_at")
    )
    if enrolments:
        return enrolments[0].participant, enrolments
    return find_participant_by_phone(phone), []  # a person not enrolled (yet)


def _thread_for(enrolments: list[Enrolment], recipient: str) -> Thread:
    """The enrolment and conversation a person's text belongs to: of their open enrolments,
    those with a conversation first, and among them the one whose programme owns the number
    they texted, else the newest; with no open enrolment, the last one (for the intake)."""
    open_ = [e for e in enrolments if e.status in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)]

    def conversation_of(enrolment: Enrolment) -> Conversation | None:
        try:
            return enrolment.conversation
        except Conversation.DoesNotExist:
            return None

    # A conversation first: with one Messaging Service for several programmes, the number a
    # person answers need not be their peer supporter's programme's.
    ranked = sorted(
        open_,
        key=lambda e: (
            conversation_of(e) is None,
            not (recipient and e.programme.sms_number == recipient),
        ),
    )
    if ranked:
        return Thread(ranked[0], conversation_of(ranked[0]))
    return Thread(enrolments[0] if enrolments else None, None)


def _post_from_person(
    thread: Thread, participant: Participant, text: InboundText, *, keyword: bool = False
) -> uuid.UUID | None:
    """What the person wrote, in their conversation, exactly once (client id `sms:<sid>`);
    the message's id (None for a text without words, which gets only a notice)."""
    assert thread.conversation is not None
    conversation_id = thread.conversation.pk
    message_id = None
    if text.body.strip():
        message_id = post_message(
            conversation_id=conversation_id,
            sender=participant.user,
            sender_role=SenderRole.PARTICIPANT,
            channel=MessageChannel.SMS,
            body=text.body,
            client_id=f"sms:{text.message_sid}",
            reserved_keyword=keyword,
        ).message.id
    notice = texts.NOTICE_MEDIA if text.body.strip() else texts.NOTICE_NO_TEXT
    if text.num_media or not text.body.strip():
        post_message(
            conversation_id=conversation_id,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.SYSTEM,
            body=notice,
            client_id=f"sms-note:{text.message_sid}",
        )
    return message_id


def _answer_help(thread: Thread, participant: Participant, text: InboundText) -> None:
    """The programme contact and crisis resources, by SMS whatever the person's preferred
    channel (they asked by text), and in the thread when there is one. At most once per
    `SMS_HELP_REPLY_INTERVAL_SECONDS`, so that two auto-responders can't text each other
    forever."""
    if queued_recently(
        purpose=OutboxPurpose.KEYWORD_REPLY,
        seconds=settings.SMS_HELP_REPLY_INTERVAL_SECONDS,
        participant=participant,
    ):
        return
    programme = thread.enrolment.programme if thread.enrolment is not None else None
    if thread.conversation is not None:
        post_message(
            conversation_id=thread.conversation.pk,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.AUTOMATED,
            body=texts.help_text(programme, participant.language),
            client_id=f"sms-help:{text.message_sid}",
            deliver_by_sms=True,
            sms_purpose=OutboxPurpose.KEYWORD_REPLY,
        )
        return
    queue_sms(
        participant=participant,
        purpose=OutboxPurpose.KEYWORD_REPLY,
        template=OutboxTemplate.HELP,
        programme=programme,
        language=participant.language,
    )


def _from_participant(
    inbound: InboundSms, participant: Participant, enrolments: list[Enrolment], text: InboundText
) -> tuple[str, uuid.UUID | None]:
    """What happened, and the id of the message the text became in the thread (if any)."""
    thread = _thread_for(enrolments, text.recipient)
    keyword = text.keyword
    if keyword is Keyword.START and not has_opted_out(participant):
        keyword = None  # "Yes" from someone not opted out is just a reply: nothing to undo
    if keyword is not None:
        # Keywords win over any open survey session; what the person wrote stays in the thread.
        message_id = None
        if keyword is Keyword.STOP:
            hold_own_sends(participant=participant)
        if thread.conversation is not None:
            message_id = _post_from_person(thread, participant, text, keyword=True)
        if keyword is Keyword.STOP:
            opt_out_of_sms(
                participant=participant, source=ConsentSource.SMS, reference=text.message_sid
            )
            return InboundOutcome.OPTED_OUT, message_id
        if keyword is Keyword.START:
            opt_in_to_sms(
                participant=participant, source=ConsentSource.SMS, reference=text.message_sid
            )
            return InboundOutcome.OPTED_IN, message_id
        _answer_help(thread, participant, text)
        return InboundOutcome.HELP, message_id
    for handler in list(_handlers):
        if handler(participant=participant, enrolment=thread.enrolment, text=text, inbound=inbound):
            if thread.enrolment is not None:
                from messaging.risk.services import screen_handled_text

                screen_handled_text(
                    enrolment=thread.enrolment,
                    body=text.body,
                    source_key=f"inbound:{text.message_sid}",
                )
            return InboundOutcome.HANDLED, None
    if thread.conversation is None:
        record_intake(
            inbound=inbound,
            reason=IntakeReason.NO_CONVERSATION,
            phone=text.sender,
            body=text.body,
            programme=thread.enrolment.programme if thread.enrolment is not None else None,
            participant=participant,
            enrolment=thread.enrolment,
        )
        return InboundOutcome.NO_CONVERSATION, None
    message_id = _post_from_person(thread, participant, text)
    # They texted: replies go back by SMS from now on, if they have SMS consent; if not, the
    # peer supporter is told that replies reach them on the web only.
    if (
        participant.preferred_channel != Channel.SMS
        and not follow_channel(participant=participant, channel=Channel.SMS, via="sms")
        and not _told_sms_is_off_today(thread.conversation)
    ):
        post_message(
            conversation_id=thread.conversation.pk,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.SYSTEM,
            body=texts.NOTICE_TEXTED_WITHOUT_SMS,
            client_id=f"{SMS_OFF_NOTICE}{text.message_sid}",
        )
    return InboundOutcome.MESSAGE, message_id


SMS_OFF_NOTICE = "sms-off:"


def _told_sms_is_off_today(conversation: Conversation) -> bool:
    since = timezone.now() - dt.timedelta(days=1)
    return Message.objects.filter(
        conversation=conversation, client_id__startswith=SMS_OFF_NOTICE, created_at__gte=since
    ).exists()


def _from_unknown_number(inbound: InboundSms, text: InboundText) -> str:
    keyword = text.keyword
    if keyword in (Keyword.STOP, Keyword.START):
        # Nobody here to opt out or in; the carrier-level opt-out is Twilio's.
        return InboundOutcome.IGNORED
    programme = (
        Programme.objects.filter(sms_number=text.recipient).first() if text.recipient else None
    )
    intake = record_intake(
        inbound=inbound,
        reason=IntakeReason.UNKNOWN_SENDER,
        phone=text.sender,
        body=text.body,
        programme=programme,
        reply=keyword is not Keyword.HELP,
    )
    if keyword is Keyword.HELP and not queued_recently(
        purpose=OutboxPurpose.KEYWORD_REPLY,
        seconds=settings.SMS_HELP_REPLY_INTERVAL_SECONDS,
        phone_index=intake.phone_index,
    ):
        # Whoever asks for help gets where to find it: the programme's crisis resources or
        # the service-wide text, whatever the replies to unknown numbers are set to.
        queue_sms(
            intake=intake,
            purpose=OutboxPurpose.KEYWORD_REPLY,
            template=OutboxTemplate.HELP,
            programme=programme,
            language=programme.languages[0] if programme is not None else "",
        )
    return InboundOutcome.UNKNOWN_SENDER


def receive_sms(text: InboundText) -> InboundResult:
    """Handle one inbound text exactly once. Returns what happened; a repeat of a MessageSid
    already handled changes nothing."""
    try:
        with transaction.atomic():
            # The natural key first: a concurrent duplicate waits here on the unique index,
            # then fails, and the first delivery's work is the only one kept.
            inbound = InboundSms.objects.create(
                message_sid=text.message_sid,
                received_at=timezone.now(),
                num_media=text.num_media,
            )
            participant, enrolments = _sender(text.sender)
            message_id = None
            if participant is None:
                outcome = _from_unknown_number(inbound, text)
            else:
                outcome, message_id = _from_participant(inbound, participant, enrolments, text)
            inbound.participant = participant
            inbound.outcome = outcome
            inbound.message_id = message_id
            inbound.save(update_fields=["participant", "outcome", "message"])
    except IntegrityError:
        if InboundSms.objects.filter(message_sid=text.message_sid).exists():
            return InboundResult(outcome="duplicate")
        raise
    return InboundResult(outcome=outcome)
