"""The supervisor's view of a team (DESIGN.md §2: manageable caseloads, no out-of-hours
pressure): per peer supporter, their caseload and what it asks of them, from the record.

Figures cover the last WINDOW_DAYS days and are computed from message metadata only (who
wrote when), never from message text.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from typing import Any

from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from messaging.models import Conversation, Message, ReadMarker, SenderRole
from people.models import User
from people.selectors import staff_display_name
from programmes.models import (
    CaseloadAssignment,
    EnrolmentStatus,
    PeerSupporterProfile,
    Programme,
    Role,
    StaffRole,
    TeamMembership,
)
from staffing.availability import peer_on_duty, within_working_hours

WINDOW_DAYS = 28
ONGOING = [EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED]


def peers_in_view(user: User, programme: Programme) -> list[User]:
    """A supervisor sees the peer supporters of the teams they supervise; a programme admin
    sees every peer supporter of the programme."""
    if StaffRole.objects.filter(user=user, programme=programme, role=Role.ADMIN).exists():
        peers = Q(
            pk__in=StaffRole.objects.filter(programme=programme, role=Role.PEER_SUPPORTER).values(
                "user_id"
            )
        )
    else:
        peers = Q(
            pk__in=TeamMembership.objects.filter(programme=programme, team__supervisor=user).values(
                "peer_supporter_id"
            )
        )
    return list(User.objects.filter(peers).order_by("first_name", "username", "pk"))


Row = tuple[Any, str, int | None, dt.datetime]


def _median_first_response_minutes(rows: Sequence[Row], peer_id: int) -> float | None:
    """From (conversation, sender role, sender, time) in time order: the minutes from a
    person's first unanswered message to this peer supporter's next message."""
    waiting: dict[Any, dt.datetime] = {}
    gaps: list[float] = []
    for conversation_id, role, sender_id, created_at in rows:
        if role == SenderRole.PARTICIPANT:
            waiting.setdefault(conversation_id, created_at)
        elif role == SenderRole.PEER_SUPPORTER and sender_id == peer_id:
            started = waiting.pop(conversation_id, None)
            if started is not None:
                gaps.append((created_at - started).total_seconds() / 60)
    return round(statistics.median(gaps), 1) if gaps else None


def peer_workload(
    peer: User, programme: Programme, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    now = now or timezone.now()
    since = now - dt.timedelta(days=WINDOW_DAYS)
    assignments = CaseloadAssignment.objects.filter(
        peer_supporter=peer,
        ended_at__isnull=True,
        enrolment__programme=programme,
        enrolment__status__in=ONGOING,
    )
    conversations = Conversation.objects.filter(enrolment__in=assignments.values("enrolment_id"))
    read_seq = Coalesce(
        Subquery(
            ReadMarker.objects.filter(conversation=OuterRef("conversation"), user=peer).values(
                "seq"
            )[:1]
        ),
        Value(0),
    )
    unread = (
        Message.objects.filter(conversation__in=conversations, sender_role=SenderRole.PARTICIPANT)
        .annotate(read_seq=read_seq)
        .filter(seq__gt=F("read_seq"))
        .count()
    )
    rows = list(
        Message.objects.filter(conversation__in=conversations, created_at__gte=since)
        .filter(Q(sender_role=SenderRole.PARTICIPANT) | Q(sender=peer))
        .order_by("created_at", "seq")
        .values_list("conversation_id", "sender_role", "sender_id", "created_at")
    )
    own = [created for _, role, sender, created in rows if sender == peer.pk]
    profile = PeerSupporterProfile.objects.filter(user=peer).first()
    outside = (
        sum(1 for created in own if not within_working_hours(profile, created))
        if profile is not None
        else 0
    )
    capacity = profile.capacity if profile is not None else None
    caseload = assignments.count()
    return {
        "peer_supporter": {"id": peer.pk, "display_name": staff_display_name(peer)},
        "on_duty": peer_on_duty(peer, now),
        "active_caseload": caseload,
        "capacity": capacity,
        "unread": unread,
        "median_first_response_minutes": _median_first_response_minutes(rows, peer.pk),
        "messages_per_week": round(len(own) / (WINDOW_DAYS / 7), 1),
        "messages_outside_working_hours": outside,
        "window_days": WINDOW_DAYS,
    }


def team_workload(user: User, programme: Programme) -> dict[str, Any]:
    """The workload table, the programme's unresolved alerts and the waiting queue's size."""
    from messaging.risk.selectors import alert_list
    from programmes.selectors import waiting_queue_for

    now = timezone.now()
    alerts = [a for a in alert_list(user) if a["programme"] == programme.slug]
    return {
        "programme": programme.slug,
        "generated_at": now.isoformat(),
        "peer_supporters": [
            peer_workload(p, programme, now=now) for p in peers_in_view(user, programme)
        ],
        "alerts": {
            "open": sum(1 for a in alerts if a["status"] == "open"),
            "acknowledged": sum(1 for a in alerts if a["status"] == "acknowledged"),
            "items": alerts,
        },
        "waiting": waiting_queue_for(user, programme=programme).count(),
    }
