"""Reads for programmes, enrolments and caseloads, always narrowed to what the user may see."""

from __future__ import annotations

import uuid

from django.db.models import DateTimeField, F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from access.permissions import AnyUser, programmes_with_role, visible_enrolments
from peerlink.errors import NotFound
from people.models import User
from programmes.models import (
    CaseloadAssignment,
    Enrolment,
    EnrolmentStatus,
    PeerChangeRequest,
    PeerChangeStatus,
    Programme,
    Role,
)

ONGOING = (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)


def visible_programmes(user: AnyUser) -> QuerySet[Programme]:
    return programmes_with_role(user, *Role.values).select_related("organisation")


def get_visible_programme(user: AnyUser, slug: str) -> Programme:
    programme = visible_programmes(user).filter(slug=slug).first()
    if programme is None:
        raise NotFound("not_found", "Not found.")
    return programme


def enrolments_for(user: AnyUser, *, programme: Programme | None = None) -> QuerySet[Enrolment]:
    qs = visible_enrolments(user)
    if programme is not None:
        qs = qs.filter(programme=programme)
    return (
        qs.select_related("participant", "participant__data_key", "site", "arm", "programme")
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=CaseloadAssignment.objects.filter(ended_at__isnull=True).select_related(
                    "peer_supporter"
                ),
                to_attr="active_assignments",
            )
        )
        .order_by("-enrolled_at")
    )


def get_visible_enrolment(user: AnyUser, enrolment_id: uuid.UUID | str) -> Enrolment:
    enrolment = enrolments_for(user).filter(pk=enrolment_id).first()
    if enrolment is None:
        raise NotFound("not_found", "Not found.")
    return enrolment


def assignment_history(enrolment: Enrolment) -> QuerySet[CaseloadAssignment]:
    return enrolment.assignments.select_related("peer_supporter").order_by("started_at", "id")


def waiting_enrolments(*, programme: Programme | None = None) -> QuerySet[Enrolment]:
    """The waiting queue: ongoing enrolments in an arm with peer support and nobody assigned,
    longest wait first. Each is annotated with `last_assignment_ended_at` (None if they never
    had a peer supporter) and `waiting_since`: that, or when they enrolled."""
    active = CaseloadAssignment.objects.filter(ended_at__isnull=True)
    last_ended = (
        CaseloadAssignment.objects.filter(enrolment=OuterRef("pk"))
        .order_by("-ended_at")
        .values("ended_at")[:1]
    )
    qs = Enrolment.objects.filter(arm__peer_support=True, status__in=ONGOING).exclude(
        pk__in=active.values("enrolment_id")
    )
    if programme is not None:
        qs = qs.filter(programme=programme)
    return (
        qs.annotate(last_assignment_ended_at=Subquery(last_ended, output_field=DateTimeField()))
        .annotate(
            waiting_since=Coalesce(
                F("last_assignment_ended_at"), F("enrolled_at"), output_field=DateTimeField()
            )
        )
        .order_by("waiting_since", "enrolled_at", "pk")
    )


def waiting_queue_for(user: AnyUser, *, programme: Programme) -> QuerySet[Enrolment]:
    """The programme's waiting queue as far as this user may see it."""
    return (
        waiting_enrolments(programme=programme)
        .filter(pk__in=visible_enrolments(user).values("pk"))
        .select_related("participant", "site")
    )


def open_change_requests(user: AnyUser, *, programme: Programme) -> QuerySet[PeerChangeRequest]:
    """Open requests for a different peer supporter, oldest first, about enrolments this user
    may see (a supervisor: their team's caseload; an admin: the programme's)."""
    return (
        PeerChangeRequest.objects.filter(
            status=PeerChangeStatus.OPEN,
            enrolment__programme=programme,
            enrolment__status__in=ONGOING,
            enrolment__in=visible_enrolments(user).values("pk"),
        )
        .select_related("enrolment__site", "enrolment__participant", "assignment__peer_supporter")
        .order_by("requested_at", "pk")
    )


def get_answerable_change_request(user: AnyUser, request_id: int) -> PeerChangeRequest:
    """A request this user may answer: about an enrolment they see, in a programme where they
    supervise or administer. Anything else does not exist, as far as they can tell."""
    change = (
        PeerChangeRequest.objects.filter(
            pk=request_id,
            enrolment__in=visible_enrolments(user).values("pk"),
            enrolment__programme__in=programmes_with_role(user, Role.SUPERVISOR, Role.ADMIN),
        )
        .select_related("enrolment", "assignment__peer_supporter")
        .first()
    )
    if change is None:
        raise NotFound("not_found", "Not found.")
    return change


def own_peer_support_enrolments(user: User) -> QuerySet[Enrolment]:
    """A service user's ongoing enrolments that include peer support."""
    return Enrolment.objects.filter(
        participant__user=user, status__in=ONGOING, arm__peer_support=True
    ).order_by("enrolled_at", "pk")
