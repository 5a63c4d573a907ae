"""Who may do what: the one module every endpoint and consumer takes its rules from.

Object visibility (which participants, which enrolments) is enforced by the selectors, which
filter by the requesting user, so that what a role may not see is indistinguishable from what
does not exist (404, never 403, for objects).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from people.models import User
from programmes.models import Enrolment, Programme, Role, StaffRole

AnyUser = User | AnonymousUser


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


def visible_enrolments(user: AnyUser) -> QuerySet[Enrolment]:
    """Enrolments whose identifiable data this user may see (DESIGN.md §5).

    - a service user: their own;
    - a peer supporter: those actively assigned to them;
    - a supervisor: those assigned to their team's peer supporters, and unassigned ones
      (the waiting queue) in their programmes;
    - a programme admin: all in their programmes;
    - an evaluator: none (they get anonymised exports only).
    """
    if not user.is_authenticated:
        return Enrolment.objects.none()
    rule = Q(participant__user=user)
    rule |= Q(assignments__peer_supporter=user, assignments__ended_at__isnull=True)
    supervised = programmes_with_role(user, Role.SUPERVISOR)
    rule |= Q(
        programme__in=supervised,
        assignments__ended_at__isnull=True,
        assignments__peer_supporter__team_memberships__team__supervisor=user,
    )
    rule |= Q(programme__in=supervised) & ~Q(assignments__ended_at__isnull=True)
    rule |= Q(programme__in=programmes_with_role(user, Role.ADMIN))
    return Enrolment.objects.filter(rule).distinct()


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
        return user.is_authenticated and StaffRole.objects.filter(
            user=user, role__in=[Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN]
        ).exists()


class SupervisorOrAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return user.is_authenticated and StaffRole.objects.filter(
            user=user, role__in=[Role.SUPERVISOR, Role.ADMIN]
        ).exists()


class ProgrammeAdmin(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return user.is_authenticated and StaffRole.objects.filter(user=user, role=Role.ADMIN).exists()
