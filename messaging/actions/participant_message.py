"""What follows a person's message, inside its own transaction (post_message calls this): the
crisis screen, then, when their peer supporter is off duty, cover by the on-duty supervisors
and an "away" reply. Both are in the message's transaction so that a stored message never
lacks its alert (DESIGN.md §3, data flow 6)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef
from django.utils import timezone

from messaging.models import Conversation, Message, MessageChannel, SenderRole
from messaging.risk import texts
from messaging.risk.services import screen_participant_message
from people.models import User
from programmes.models import CaseloadAssignment, PeerSupporterProfile
from staffing.availability import next_on_duty, within_working_hours
from staffing.models import Leave, OffDutyCover


def after_participant_message(*, message: Message, conversation: Conversation, body: str) -> None:
    alert = screen_participant_message(message=message, conversation=conversation, body=body)
    # Only a crisis reply sent for this message stands in for the away reply: one held back by
    # its rate limit sent nothing, and the person still needs to hear when to expect an answer.
    crisis_reply_sent = (
        alert is not None
        and alert.last_crisis_reply_at is not None
        and alert.last_crisis_reply_at >= message.created_at
    )
    cover_if_off_duty(
        message=message, conversation=conversation, crisis_reply_sent=crisis_reply_sent
    )


def cover_if_off_duty(
    *, message: Message, conversation: Conversation, crisis_reply_sent: bool = False
) -> OffDutyCover | None:
    """When the person's peer supporter is off duty: open (or keep) the conversation's cover
    and, at most once per `away_reply_interval_minutes`, tell the person when to expect an
    answer, with the crisis resources. Skipped when a crisis reply has just gone out (it
    carries the crisis resources already)."""
    now = timezone.now()
    # One query on every message a person writes: their peer supporter, with the working
    # hours and whether they are on leave now (the chat path's cost, docs/performance.md).
    # One light query on every message a person writes (the chat path's cost,
    # docs/performance.md): their peer supporter's working hours, and whether they are on
    # leave now. Nothing more unless the peer supporter is off duty.
    found = list(
        CaseloadAssignment.objects.filter(
            enrolment_id=conversation.enrolment_id, ended_at__isnull=True
        )
        .annotate(
            on_leave=Exists(
                Leave.objects.filter(
                    user=OuterRef("peer_supporter"), starts_at__lte=now, ends_at__gt=now
                )
            )
        )
        .values_list(
            "peer_supporter_id",
            "peer_supporter__peer_profile__working_hours",
            "peer_supporter__peer_profile__time_zone",
            "on_leave",
        )[:1]
    )
    if not found:
        return None
    peer_id, hours, time_zone, on_leave = found[0]
    on_duty = (
        time_zone is not None
        and within_working_hours(
            PeerSupporterProfile(working_hours=hours, time_zone=time_zone), now
        )
        and not on_leave
    )
    if on_duty:
        return None
    peer = User.objects.get(pk=peer_id)
    cover = OffDutyCover.objects.filter(conversation=conversation, ended_at__isnull=True).first()
    if cover is None:
        cover = OffDutyCover.objects.create(
            conversation=conversation, peer_supporter=peer, since=now
        )
    programme = conversation.enrolment.programme
    interval = dt.timedelta(minutes=programme.away_reply_interval_minutes)
    replied_recently = OffDutyCover.objects.filter(
        conversation=conversation, away_reply_at__gt=now - interval
    ).exists()
    if crisis_reply_sent or replied_recently:
        return cover
    from messaging.services import post_message

    participant = conversation.enrolment.participant
    post_message(
        conversation_id=conversation.pk,
        sender=None,
        sender_role=SenderRole.SYSTEM,
        channel=MessageChannel.AUTOMATED,
        body=texts.away_reply(
            programme, participant.language, next_on_duty(peer, now), participant.time_zone
        ),
        client_id=f"away:{message.pk}",
    )
    cover.away_reply_at = now
    cover.save(update_fields=["away_reply_at"])
    return cover


def end_cover(*, conversation: Conversation) -> None:
    """The peer supporter answered: the conversation is theirs again."""
    OffDutyCover.objects.filter(conversation=conversation, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
