"""Who may do what: the one module every endpoint and consumer takes its rules from.

Object visibility (which participants, which enrolments) is enforced by the selectors, which
filter by the requesting user, so that what a role may not see is indistinguishable from what
does not exist (404, never 403, for objects).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import F, Q, QuerySet
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from people.models import User
from programmes.models import (
    CaseloadAssignment,
    Enrolment,
    EnrolmentStatus,
    Programme,
    Role,
    StaffRole,
)

AnyUser = User | AnonymousUser


def request_user(request: Request) -> User:
    """The signed-in user of a request that a permission class has already let through."""
    assert isinstance(request.user, User)
    return request.user


def service_user(request: Request, *, why: str) -> User:
    """The signed-in service user, or 403 `not_a_service_user` (with `why` as the message)."""
    from rest_framework import status

    from peerlink.errors import DomainError

    user = request_user(request)
    if not user.is_participant:
        raise DomainError("not_a_service_user", why, http_status=status.HTTP_403_FORBIDDEN)
    return user


def staff_roles(user: AnyUser, programme: Programme | None = None) -> set[str]:
    if not user.is_authenticated:
        return set()
    qs = StaffRole.objects.filter(user=user)
    if programme is not None:
        qs = qs.filter(programme=programme)
    return set(qs.values_list("role", flat=True))


def has_role(user: AnyUser, programme: Programme, *roles: str) -> bool:
    if not user.is_authenticated:
        return False
    return StaffRole.objects.filter(user=user, programme=programme, role__in=roles).exists()


def is_staff_member(user: AnyUser) -> bool:
    return user.is_authenticated and StaffRole.objects.filter(user=user).exists()


def programmes_with_role(user: AnyUser, *roles: str) -> QuerySet[Programme]:
    if not user.is_authenticated:
        return Programme.objects.none()
    return Programme.objects.filter(staff_roles__user=user, staff_roles__role__in=roles).distinct()


def _casework_rule(user: User) -> Q:
    """Enrolments a user works with: their own as a service user, their caseload as a peer
    supporter, their team's caseload and the waiting queue as a supervisor."""
    active = CaseloadAssignment.objects.filter(ended_at__isnull=True)
    supervised = programmes_with_role(user, Role.SUPERVISOR)
    own_caseload = active.filter(peer_supporter=user)
    team_caseload = active.filter(
        enrolment__programme__in=supervised,
        peer_supporter__team_memberships__team__supervisor=user,
        peer_supporter__team_memberships__programme=F("enrolment__programme"),
    )
    waiting_queue = Enrolment.objects.filter(
        programme__in=supervised,
        arm__peer_support=True,
        status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED],
    ).exclude(pk__in=active.values("enrolment_id"))
    return (
        Q(participant__user=user)
        | Q(pk__in=own_caseload.values("enrolment_id"))
        | Q(pk__in=team_caseload.values("enrolment_id"))
        | Q(pk__in=waiting_queue.values("pk"))
        | _needing_any_supervisor(supervised)
    )


def _needing_any_supervisor(supervised: QuerySet[Programme]) -> Q:
    """Enrolments any supervisor of the programme may need to read, beyond their own team:
    those with an unresolved risk alert (the on-call supervisor answers for every team), and
    conversations waiting while their peer supporter is off duty (DESIGN.md §2)."""
    from messaging.risk.models import UNRESOLVED, RiskAlert
    from staffing.models import OffDutyCover

    alerts = RiskAlert.objects.filter(
        programme__in=supervised, status__in=UNRESOLVED, enrolment__isnull=False
    ).values("enrolment_id")
    covered = OffDutyCover.objects.filter(
        conversation__enrolment__programme__in=supervised, ended_at__isnull=True
    ).values("conversation__enrolment_id")
    return Q(pk__in=alerts) | Q(pk__in=covered)


def visible_enrolments(user: AnyUser) -> QuerySet[Enrolment]:
    """Enrolments whose identifiable data this user may see (DESIGN.md §5).

    - a service user: their own;
    - a peer supporter: those actively assigned to them;
    - a supervisor: those assigned to their team's peer supporters, and the waiting queue
      (active, in an arm with peer support, nobody assigned) in their programmes;
    - a programme admin: all in their programmes;
    - an evaluator: none (they get anonymised exports only).
    """
    if not user.is_authenticated:
        return Enrolment.objects.none()
    return Enrolment.objects.filter(
        _casework_rule(user) | Q(programme__in=programmes_with_role(user, Role.ADMIN))
    )


def readable_conversation_enrolments(user: AnyUser) -> QuerySet[Enrolment]:
    """Enrolments whose conversation this user may read. Programme admins set programmes up;
    they do not read conversations (DESIGN.md §2)."""
    if not user.is_authenticated:
        return Enrolment.objects.none()
    return Enrolment.objects.filter(_casework_rule(user))


def postable_conversation_enrolments(user: AnyUser) -> QuerySet[Enrolment]:
    """Enrolments whose conversation this user takes part in: the service user and the peer
    supporter(s) assigned now. Supervisors read (audited); they do not post."""
    if not user.is_authenticated:
        return Enrolment.objects.none()
    return Enrolment.objects.filter(
        Q(participant__user=user, status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED])
        | Q(assignments__peer_supporter=user, assignments__ended_at__isnull=True)
    ).distinct()


class DenyAll(BasePermission):
    """The default: an endpoint that does not name its rule is closed."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return False


class AllowAnyone(BasePermission):
    """Public endpoints (sign-in); they carry their own rate limits."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return True


class SignedIn(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)


class StaffOnly(BasePermission):
    """Any programme role; object rules narrow it further."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_staff_member(request.user)


class CaseworkStaff(BasePermission):
    """Roles that work with identifiable participants: peer supporter, supervisor, admin."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return (
            user.is_authenticated
            and StaffRole.objects.filter(
                user=user, role__in=[Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN]
            ).exists()
        )


class SupervisorOrAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return (
            user.is_authenticated
            and StaffRole.objects.filter(user=user, role__in=[Role.SUPERVISOR, Role.ADMIN]).exists()
        )


class ProgrammeAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return (
            user.is_authenticated and StaffRole.objects.filter(user=user, role=Role.ADMIN).exists()
        )
