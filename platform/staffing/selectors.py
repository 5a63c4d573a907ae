"""Reads for staff availability, narrowed to what the requesting user may see."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from access.permissions import AnyUser
from peerlink.errors import NotFound
from people.models import User
from programmes.models import PeerSupporterProfile, Programme, Role, StaffRole, TeamMembership
from staffing.models import Leave, OnCallShift, StaffContact

# Roles with working hours, leave and (supervisors) on-call shifts.
ON_DUTY_ROLES = (Role.PEER_SUPPORTER, Role.SUPERVISOR)


def works_shifts(user: AnyUser) -> bool:
    """Whether this user keeps availability: a peer supporter or supervisor anywhere."""
    return (
        user.is_authenticated
        and StaffRole.objects.filter(user=user, role__in=ON_DUTY_ROLES).exists()
    )


def profile_of(user: User) -> PeerSupporterProfile | None:
    return PeerSupporterProfile.objects.filter(user=user).first()


def team_peer_ids(supervisor: User) -> QuerySet[TeamMembership, int]:
    """Peer supporters in the teams this user supervises (while they hold the role there)."""
    supervised = StaffRole.objects.filter(user=supervisor, role=Role.SUPERVISOR).values(
        "programme_id"
    )
    return TeamMembership.objects.filter(
        team__supervisor=supervisor, programme_id__in=supervised
    ).values_list("peer_supporter_id", flat=True)


def availability_subject(actor: User, user_id: int | None) -> User:
    """Whose availability `actor` means: their own (no id, or their own id), or a peer
    supporter in a team they supervise. Anyone else is unknown to them."""
    if user_id is None or user_id == actor.pk:
        return actor
    subject = User.objects.filter(pk=user_id, pk__in=team_peer_ids(actor)).first()
    if subject is None:
        raise NotFound("unknown_user", "No such peer supporter in your team.")
    return subject


def current_leave(user: User, *, after: dt.datetime) -> QuerySet[Leave]:
    """Leave not yet over at `after`, soonest first."""
    return Leave.objects.filter(user=user, ends_at__gt=after).order_by("starts_at", "pk")


def get_visible_leave(actor: User, leave_id: int) -> Leave:
    """The actor's own leave, or leave of a peer supporter in their team."""
    leave = (
        Leave.objects.filter(pk=leave_id, user_id=actor.pk).first()
        or Leave.objects.filter(pk=leave_id, user_id__in=team_peer_ids(actor)).first()
    )
    if leave is None:
        raise NotFound("not_found", "Not found.")
    return leave


def rota(programme: Programme, *, after: dt.datetime) -> QuerySet[OnCallShift]:
    """The programme's on-call shifts not yet over at `after`, in order."""
    return (
        OnCallShift.objects.filter(programme=programme, ends_at__gt=after)
        .select_related("supervisor")
        .order_by("starts_at", "level", "pk")
    )


def ids_with_phone(user_ids: set[int]) -> set[int]:
    """Which of these staff members gave an escalation phone (without decrypting it)."""
    return set(StaffContact.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True))
