"""Reads for supervision records, always narrowed to what the requesting user may see
(DESIGN.md §5). What a user may not see raises the same NotFound as what does not exist.

- supervisors: every session, fidelity check and training record of their programmes;
- peer supporters: the sessions they took part in, their own checks, their own training;
- programme admins: checklists and training records, never sessions (their notes are the
  reflective practice of peers, not programme administration);
- evaluators and service users: nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from access.permissions import AnyUser, has_role, programmes_with_role
from peerlink.errors import NotFound
from people.models import User
from people.selectors import staff_display_name
from programmes.models import Programme, Role
from supervision.models import (
    FidelityCheck,
    FidelityChecklist,
    FidelityItem,
    FidelityScore,
    SupervisionSession,
    TrainingRecord,
)
from supervision.services import programme_today

NOT_FOUND = NotFound("not_found", "Not found.")


def _programme(user: AnyUser, slug: str, *roles: str) -> Programme:
    programme = programmes_with_role(user, *roles).filter(slug=slug).first()
    if programme is None:
        raise NOT_FOUND
    return programme


def session_programme(user: AnyUser, slug: str) -> Programme:
    """A programme where the user takes part in supervision (supervisor or peer supporter)."""
    return _programme(user, slug, Role.SUPERVISOR, Role.PEER_SUPPORTER)


def checklist_programme(user: AnyUser, slug: str) -> Programme:
    return _programme(user, slug, Role.SUPERVISOR, Role.ADMIN)


def training_programme(user: AnyUser, slug: str) -> Programme:
    return _programme(user, slug, Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN)


def visible_sessions(user: AnyUser) -> QuerySet[SupervisionSession]:
    if not user.is_authenticated:
        return SupervisionSession.objects.none()
    attended = SupervisionSession.peer_supporters.through.objects.filter(user_id=user.pk)
    return SupervisionSession.objects.filter(
        Q(programme__in=programmes_with_role(user, Role.SUPERVISOR))
        | Q(
            pk__in=attended.values("supervisionsession_id"),
            programme__in=programmes_with_role(user, Role.PEER_SUPPORTER),
        )
    )


def _with_people(qs: QuerySet[SupervisionSession]) -> QuerySet[SupervisionSession]:
    return qs.select_related("programme", "supervisor", "data_key").prefetch_related(
        Prefetch("peer_supporters", queryset=User.objects.order_by("id"))
    )


def sessions_for(user: AnyUser, programme: Programme) -> QuerySet[SupervisionSession]:
    return _with_people(visible_sessions(user).filter(programme=programme)).order_by(
        "-held_on", "-created_at", "-pk"
    )


def get_visible_session(user: AnyUser, session_id: uuid.UUID | str) -> SupervisionSession:
    session = _with_people(visible_sessions(user)).filter(pk=session_id).first()
    if session is None:
        raise NOT_FOUND
    return session


def _person(user: User) -> dict[str, Any]:
    return {"id": user.pk, "display_name": staff_display_name(user)}


def session_payload(session: SupervisionSession, *, notes: str | None = None) -> dict[str, Any]:
    """A session as the API shows it. Notes only when the caller decrypted them (an audited
    read); lists never carry them."""
    payload: dict[str, Any] = {
        "id": str(session.id),
        "programme": session.programme.slug,
        "supervisor": _person(session.supervisor),
        "held_on": session.held_on.isoformat(),
        "kind": session.kind,
        "duration_minutes": session.duration_minutes,
        "peer_supporters": [_person(p) for p in session.peer_supporters.all()],
        "created_by": session.created_by_id,
        "created_at": session.created_at.isoformat(),
    }
    if notes is not None:
        payload["notes"] = notes
    return payload


def fidelity_checks_for(user: AnyUser, session: SupervisionSession) -> QuerySet[FidelityCheck]:
    """A session's checks: all of them for the programme's supervisors, a participant's own
    for a peer supporter."""
    qs = FidelityCheck.objects.filter(session=session)
    if not has_role(user, session.programme, Role.SUPERVISOR):
        qs = qs.filter(peer_supporter_id=user.pk)
    return (
        qs.select_related("peer_supporter", "checklist")
        .prefetch_related(
            Prefetch(
                "scores",
                queryset=FidelityScore.objects.select_related("item").order_by("item__position"),
            )
        )
        .order_by("created_at", "pk")
    )


def fidelity_check_payload(check: FidelityCheck) -> dict[str, Any]:
    return {
        "id": str(check.id),
        "session": str(check.session_id),
        "peer_supporter": _person(check.peer_supporter),
        "checklist": {
            "id": check.checklist.pk,
            "name": check.checklist.name,
            "version": check.checklist.version,
        },
        "scores": [
            {
                "item": s.item.key,
                "text": s.item.text,
                "score": s.score,
                "scale_max": s.item.scale_max,
            }
            for s in check.scores.all()
        ],
        "total": check.total,
        "max_total": check.max_total,
        "percentage": check.percentage,
        "recorded_by": check.recorded_by_id,
        "created_at": check.created_at.isoformat(),
    }


def checklists_for(
    programme: Programme, *, include_inactive: bool = False
) -> QuerySet[FidelityChecklist]:
    qs = FidelityChecklist.objects.filter(programme=programme)
    if not include_inactive:
        qs = qs.filter(active=True)
    return qs.prefetch_related(
        Prefetch("items", queryset=FidelityItem.objects.order_by("position"))
    ).order_by("name", "-version")


def checklist_payload(checklist: FidelityChecklist) -> dict[str, Any]:
    items = list(checklist.items.all())
    return {
        "id": checklist.pk,
        "programme": checklist.programme.slug,
        "name": checklist.name,
        "version": checklist.version,
        "active": checklist.active,
        "max_total": sum(i.scale_max for i in items),
        "items": [
            {"key": i.key, "text": i.text, "scale_max": i.scale_max, "position": i.position}
            for i in items
        ],
    }


def training_records_for(
    user: AnyUser,
    programme: Programme,
    *,
    expiring_within_days: int | None = None,
    as_of: dt.date | None = None,
) -> QuerySet[TrainingRecord]:
    """Training records the user may see in the programme: everyone's for supervisors and
    programme admins, their own for a peer supporter.

    With `expiring_within_days`, only certifications that must be renewed: expired already,
    or expiring within that many days of `as_of` (the programme's today by default). A course
    completed again since counts by its newest completion only, so someone who has renewed
    drops off the list.
    """
    if not user.is_authenticated:
        return TrainingRecord.objects.none()
    qs = TrainingRecord.objects.filter(programme=programme)
    if not has_role(user, programme, Role.SUPERVISOR, Role.ADMIN):
        qs = qs.filter(user=user)
    if expiring_within_days is not None:
        today = as_of or programme_today(programme)
        renewed = TrainingRecord.objects.filter(
            user_id=OuterRef("user_id"),
            programme_id=OuterRef("programme_id"),
            course_code=OuterRef("course_code"),
            completed_on__gt=OuterRef("completed_on"),
        )
        qs = qs.filter(
            certified_until__isnull=False,
            certified_until__lte=today + dt.timedelta(days=expiring_within_days),
        ).exclude(Exists(renewed))
        qs = qs.order_by("certified_until", "user_id", "course_code")
    else:
        qs = qs.order_by("user_id", "course_code", "-completed_on")
    return qs.select_related("user", "programme")


def training_payload(training: TrainingRecord, *, today: dt.date) -> dict[str, Any]:
    until = training.certified_until
    return {
        "id": str(training.id),
        "programme": training.programme.slug,
        "user": _person(training.user),
        "course_code": training.course_code,
        "course_title": training.course_title,
        "completed_on": training.completed_on.isoformat(),
        "certified_until": until.isoformat() if until else None,
        # Negative once expired; None for a course that does not expire.
        "expires_in_days": (until - today).days if until else None,
        "recorded_by": training.recorded_by_id,
        "created_at": training.created_at.isoformat(),
    }
