"""The texts a session sends: each is a SurveyPrompt, numbered within its session (written
once: the (session, seq) key), and its outbox row or, for a web link to a person reached only
in their thread, an automated message there."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from messaging.models import (
    Conversation,
    DeliveryStatus,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    OutboxTemplate,
    SenderRole,
    SmsOutbox,
)
from messaging.services import post_message
from messaging.sms.outbox import queue_sms
from outcomes.models import SurveyLink, SurveyPrompt, SurveySession
from outcomes.prompts import prompt_text


def _next_prompt(session: SurveySession, *, kind: str, item_key: str) -> SurveyPrompt:
    session.prompt_seq += 1
    return SurveyPrompt.objects.create(
        session=session, seq=session.prompt_seq, kind=kind, item_key=item_key
    )


def text_prompt(
    *, session: SurveySession, kind: str, expires_at: dt.datetime, item_key: str = ""
) -> SurveyPrompt:
    """Queue one SMS of the session (inside the caller's transaction; the caller saves the
    session). Not sent after `expires_at`: an invitation held up past the staleness limit or
    into quiet hours is given up, never sent at night."""
    prompt = _next_prompt(session, kind=kind, item_key=item_key)
    participant = session.enrolment.participant
    queue_sms(
        participant=participant,
        purpose=OutboxPurpose.AUTOMATED,
        template=OutboxTemplate.SURVEY,
        survey_prompt=prompt,
        programme=session.enrolment.programme,
        language=session.language,
        expires_at=expires_at,
    )
    return prompt


def cancel_waiting_prompts(*, session: SurveySession) -> int:
    """The session's texts not yet handed to the provider are not sent: it ended, or goes by
    the web now (a question held up by an outage must not reach someone withdrawn)."""
    return SmsOutbox.objects.filter(
        survey_prompt__session=session, status=OutboxStatus.PENDING
    ).update(
        status=OutboxStatus.SKIPPED,
        delivery_status=DeliveryStatus.NOT_SENT,
        delivery_updated_at=timezone.now(),
        next_attempt_at=None,
    )


def ensure_link(session: SurveySession) -> SurveyLink:
    link = SurveyLink.objects.filter(session=session).first()
    if link is None:
        link = SurveyLink.objects.create(session=session, expires_at=session.closes_at)
    return link


def post_link_in_thread(
    *, session: SurveySession, conversation: Conversation, kind: str, expires_at: dt.datetime
) -> SurveyPrompt:
    """The web link as an automated message in the person's thread (someone who reads on
    the web and has no SMS): they see it where they chat."""
    prompt = _next_prompt(session, kind=kind, item_key="")
    post_message(
        conversation_id=conversation.pk,
        sender=None,
        sender_role=SenderRole.SYSTEM,
        channel=MessageChannel.AUTOMATED,
        body=prompt_text(prompt),
        client_id=f"survey:{session.pk}:{prompt.seq}",
        sms_expires_at=expires_at,
    )
    return prompt
