"""Reads for programmes, enrolments and caseloads, always narrowed to what the user may see."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from access.permissions import AnyUser, programmes_with_role, visible_enrolments
from peerlink.errors import NotFound
from programmes.models import CaseloadAssignment, Enrolment, Programme, Role


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
