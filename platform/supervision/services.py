"""Writes for supervision records: sessions (notes encrypted), fidelity checklists and checks,
training and certification. Each write is one transaction with its audit entry; details hold
ids and codes only, never note text or names.

Users named in a request body (participants, trainees) arrive as ids and are checked by the
role they must hold in the programme, so that an unknown id and a user without that role get
the same answer: the API does not reveal who exists.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework import status

from access.permissions import has_role
from audit.services import record
from encryption.models import DataKeyPurpose
from encryption.services import FieldRef, create_data_key, decrypt, encrypt
from messaging.services import validate_client_id
from peerlink.errors import Conflict, DomainError
from people.models import User
from programmes.models import Programme, Role, StaffRole
from supervision.models import (
    MAX_SCALE,
    MAX_SESSION_MINUTES,
    FidelityCheck,
    FidelityChecklist,
    FidelityItem,
    FidelityScore,
    SessionKind,
    SupervisionSession,
    TrainingRecord,
)

MAX_NOTES_CHARS = 20000
MAX_PARTICIPANTS = 100
MAX_CHECKLIST_ITEMS = 100
MAX_ITEM_TEXT_CHARS = 500
MAX_NAME_CHARS = 200
MAX_COURSE_TITLE_CHARS = 200
COURSE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
ITEM_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")

# Roles that training records are kept for: the people who deliver and supervise support.
TRAINEE_ROLES = (Role.PEER_SUPPORTER, Role.SUPERVISOR)
MAX_ID = 2**63 - 1


def _forbidden(code: str, message: str) -> DomainError:
    return DomainError(code, message, http_status=status.HTTP_403_FORBIDDEN)


def programme_today(programme: Programme) -> dt.date:
    """Today where the programme runs: a session held this evening in Edmonton is not "in the
    future" because UTC has already moved on to tomorrow."""
    return timezone.localdate(timezone=ZoneInfo(programme.time_zone))


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass; JSON true is not a score, a minute count or an id.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: object) -> TypeGuard[int]:
    # Beyond a bigint the database can't even compare it: refuse it before any query.
    return _is_int(value) and 0 < value <= MAX_ID


def _check_date(value: object, code: str, what: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise DomainError(code, f"{what} must be a calendar date (YYYY-MM-DD).")
    return value


def _check_text(
    value: object, *, code: str, what: str, max_chars: int, blank: bool, encrypted: bool = False
) -> str:
    if not isinstance(value, str) or (not blank and not value.strip()) or len(value) > max_chars:
        low = 0 if blank else 1
        raise DomainError(code, f"{what} must be text of {low} to {max_chars} characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (JSON can spell them) are not text and can't be stored.
        raise DomainError(code, f"{what} must be Unicode text.") from None
    if "\x00" in value and not encrypted:
        # PostgreSQL text columns refuse NUL; ciphertext is bytes and doesn't care.
        raise DomainError(code, f"{what} must not hold NUL characters.")
    return value


def _holders(programme: Programme, user_ids: Iterable[int], *roles: str) -> set[int]:
    return set(
        StaffRole.objects.filter(
            programme=programme, user_id__in=list(user_ids), role__in=roles
        ).values_list("user_id", flat=True)
    )


# Sessions ---------------------------------------------------------------------------------


def notes_ref(session_id: Any) -> FieldRef:
    return FieldRef(table="supervision_supervisionsession", row=str(session_id), field="notes")


@dataclass(frozen=True)
class RecordedSession:
    session: SupervisionSession
    created: bool


def _validate_participants(
    programme: Programme, supervisor: User, kind: str, peer_supporter_ids: object
) -> list[int]:
    if not isinstance(peer_supporter_ids, list | tuple) or not all(
        _is_int(pk) for pk in peer_supporter_ids
    ):
        raise DomainError("invalid_participants", "peer_supporters must be a list of user ids.")
    if not all(_is_id(pk) for pk in peer_supporter_ids):
        raise DomainError(
            "not_a_peer_supporter",
            "Every participant must be a peer supporter of the programme.",
        )
    ids = list(dict.fromkeys(peer_supporter_ids))  # a name given twice is one participant
    if not ids:
        raise DomainError("no_participants", "A session needs at least one peer supporter.")
    if len(ids) > MAX_PARTICIPANTS:
        raise DomainError(
            "too_many_participants", f"A session has at most {MAX_PARTICIPANTS} participants."
        )
    if supervisor.pk in ids:
        raise DomainError(
            "supervisor_is_participant", "The session's supervisor is not one of its participants."
        )
    if kind == SessionKind.INDIVIDUAL and len(ids) != 1:
        raise DomainError(
            "individual_needs_one_participant",
            "An individual session has exactly one peer supporter.",
        )
    if _holders(programme, ids, Role.PEER_SUPPORTER) != set(ids):
        raise DomainError(
            "not_a_peer_supporter",
            "Every participant must be a peer supporter of the programme.",
        )
    return ids


def record_session(
    *,
    programme: Programme,
    supervisor: User,
    recorded_by: User,
    held_on: object,
    kind: object,
    duration_minutes: object,
    peer_supporter_ids: object,
    notes: object,
    client_id: object,
) -> RecordedSession:
    """Store a supervision session once. The same client id from the same supervisor in the
    same programme gives the first session back, whatever else the retry carries: a client
    that lost the response must not record the session twice."""
    if not has_role(recorded_by, programme, Role.SUPERVISOR):
        raise _forbidden("forbidden", "Only the programme's supervisors record sessions.")
    client_id = validate_client_id(client_id)
    if not has_role(supervisor, programme, Role.SUPERVISOR):
        raise DomainError("not_a_supervisor", "A session is led by a supervisor of the programme.")
    existing = SupervisionSession.objects.filter(
        programme=programme, supervisor=supervisor, client_id=client_id
    ).first()
    if existing is not None:
        return RecordedSession(existing, created=False)

    held_on = _check_date(held_on, "invalid_date", "held_on")
    if held_on > programme_today(programme):
        raise DomainError("held_on_in_future", "A session can't be recorded before it is held.")
    if kind not in SessionKind.values:
        raise DomainError("invalid_kind", f"kind is one of {', '.join(SessionKind.values)}.")
    assert isinstance(kind, str)
    if not _is_int(duration_minutes) or not 1 <= duration_minutes <= MAX_SESSION_MINUTES:
        raise DomainError(
            "invalid_duration",
            f"duration_minutes is a whole number from 1 to {MAX_SESSION_MINUTES}.",
        )
    ids = _validate_participants(programme, supervisor, kind, peer_supporter_ids)
    text = _check_text(
        notes,
        code="invalid_notes",
        what="Notes",
        max_chars=MAX_NOTES_CHARS,
        blank=True,
        encrypted=True,
    )

    try:
        with transaction.atomic():
            data_key = create_data_key(purpose=DataKeyPurpose.PROGRAMME)
            session = SupervisionSession(
                programme=programme,
                supervisor=supervisor,
                held_on=held_on,
                kind=kind,
                duration_minutes=duration_minutes,
                data_key=data_key,
                client_id=client_id,
                created_by=recorded_by,
            )
            session.notes_ciphertext = encrypt(
                data_key=data_key, plaintext=text, ref=notes_ref(session.id)
            )
            session.save(force_insert=True)
            session.peer_supporters.set(ids)
            record(
                action="supervision_session.recorded",
                actor=recorded_by,
                target=session,
                details={
                    "programme": programme.slug,
                    "supervisor": supervisor.pk,
                    "kind": kind,
                    "duration_minutes": duration_minutes,
                    "peer_supporters": sorted(ids),
                },
            )
    except IntegrityError:
        # A concurrent retry won the race for this client id: its session is the session.
        existing = SupervisionSession.objects.filter(
            programme=programme, supervisor=supervisor, client_id=client_id
        ).first()
        if existing is None:
            raise
        return RecordedSession(existing, created=False)
    return RecordedSession(session, created=True)


def open_session_notes(*, session: SupervisionSession, reader: User) -> str:
    """Decrypt a session's notes for someone the selectors let see the session. A read that
    writes: the audit entry commits with it, or the notes are not given out."""
    with transaction.atomic():
        text = decrypt(
            data_key=session.data_key,
            ciphertext=bytes(session.notes_ciphertext),
            ref=notes_ref(session.id),
        )
        record(
            action="supervision_session.read",
            actor=reader,
            target=session,
            details={"programme": session.programme.slug},
        )
    return text


# Fidelity checklists ----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    key: str
    text: str
    scale_max: int


def _may_configure(user: User, programme: Programme) -> bool:
    return user.is_superuser or has_role(user, programme, Role.ADMIN)


def _validate_items(items: object) -> list[ItemSpec]:
    if not isinstance(items, list | tuple) or not items:
        raise DomainError("no_items", "A checklist needs at least one item.")
    if len(items) > MAX_CHECKLIST_ITEMS:
        raise DomainError("too_many_items", f"A checklist has at most {MAX_CHECKLIST_ITEMS} items.")
    specs: list[ItemSpec] = []
    for raw in items:
        key: object
        text: object
        scale_max: object
        if isinstance(raw, ItemSpec):
            key, text, scale_max = raw.key, raw.text, raw.scale_max
        elif isinstance(raw, Mapping):
            key, text, scale_max = raw.get("key"), raw.get("text"), raw.get("scale_max")
        else:
            raise DomainError("invalid_item", "Each item has a key, a text and a scale_max.")
        if not isinstance(key, str) or not ITEM_KEY.fullmatch(key):
            raise DomainError(
                "invalid_item_key",
                "An item key is 1 to 50 lowercase letters, digits, '-' or '_'.",
            )
        clean_text = _check_text(
            text,
            code="invalid_item_text",
            what="An item's text",
            max_chars=MAX_ITEM_TEXT_CHARS,
            blank=False,
        ).strip()
        if not _is_int(scale_max) or not 1 <= scale_max <= MAX_SCALE:
            raise DomainError(
                "invalid_scale", f"An item's scale_max is a whole number from 1 to {MAX_SCALE}."
            )
        specs.append(ItemSpec(key, clean_text, scale_max))
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise DomainError("duplicate_item_key", "Each item key appears once in a checklist.")
    return specs


def _create_items(checklist: FidelityChecklist, specs: Sequence[ItemSpec]) -> None:
    FidelityItem.objects.bulk_create(
        FidelityItem(checklist=checklist, position=n, key=s.key, text=s.text, scale_max=s.scale_max)
        for n, s in enumerate(specs, start=1)
    )


def create_checklist(
    *, programme: Programme, name: object, items: object, created_by: User
) -> FidelityChecklist:
    if not _may_configure(created_by, programme):
        raise _forbidden("forbidden", "Only programme admins configure fidelity checklists.")
    name = _check_text(
        name, code="invalid_name", what="A checklist's name", max_chars=MAX_NAME_CHARS, blank=False
    ).strip()
    specs = _validate_items(items)
    with transaction.atomic():
        if FidelityChecklist.objects.filter(programme=programme, name=name).exists():
            raise Conflict(
                "checklist_exists", "A checklist of this name exists: revise it instead."
            )
        checklist = FidelityChecklist.objects.create(programme=programme, name=name, version=1)
        _create_items(checklist, specs)
        record(
            action="fidelity_checklist.created",
            actor=created_by,
            target=checklist,
            details={"programme": programme.slug, "version": 1, "items": len(specs)},
        )
    return checklist


def revise_checklist(
    *, checklist: FidelityChecklist, items: object, revised_by: User
) -> FidelityChecklist:
    """Change a checklist's items. An unused version is changed in place; once any check has
    used it, its scores must keep their meaning, so the revision becomes a new version (the
    active one) and the old one is retired."""
    programme = checklist.programme
    if not _may_configure(revised_by, programme):
        raise _forbidden("forbidden", "Only programme admins configure fidelity checklists.")
    specs = _validate_items(items)
    with transaction.atomic():
        current = FidelityChecklist.objects.select_for_update().get(pk=checklist.pk)
        if not current.checks.exists():
            FidelityItem.objects.filter(checklist=current).delete()
            _create_items(current, specs)
            revised = current
        else:
            revised = _next_version(current, specs)
        record(
            action="fidelity_checklist.revised",
            actor=revised_by,
            target=revised,
            details={
                "programme": programme.slug,
                "from": current.pk,
                "version": revised.version,
                "items": len(specs),
                "in_place": revised.pk == current.pk,
            },
        )
    return revised


def _next_version(checklist: FidelityChecklist, specs: Sequence[ItemSpec]) -> FidelityChecklist:
    siblings = FidelityChecklist.objects.select_for_update().filter(
        programme=checklist.programme, name=checklist.name
    )
    latest = siblings.aggregate(latest=Max("version"))["latest"] or 0
    # Retire the active version first: one active version per name (a database constraint).
    siblings.filter(active=True).update(active=False)
    new = FidelityChecklist.objects.create(
        programme=checklist.programme, name=checklist.name, version=latest + 1, active=True
    )
    _create_items(new, specs)
    return new


def new_checklist_version(*, checklist: FidelityChecklist, created_by: User) -> FidelityChecklist:
    """A copy of the checklist's items as the next (active, unused) version, to edit freely."""
    if not _may_configure(created_by, checklist.programme):
        raise _forbidden("forbidden", "Only programme admins configure fidelity checklists.")
    specs = [ItemSpec(i.key, i.text, i.scale_max) for i in checklist.items.order_by("position")]
    with transaction.atomic():
        new = _next_version(checklist, specs)
        record(
            action="fidelity_checklist.versioned",
            actor=created_by,
            target=new,
            details={
                "programme": checklist.programme.slug,
                "from": checklist.pk,
                "version": new.version,
            },
        )
    return new


def set_checklist_active(
    *, checklist: FidelityChecklist, active: bool, changed_by: User
) -> FidelityChecklist:
    if not _may_configure(changed_by, checklist.programme):
        raise _forbidden("forbidden", "Only programme admins configure fidelity checklists.")
    with transaction.atomic():
        if active:
            FidelityChecklist.objects.filter(
                programme=checklist.programme, name=checklist.name, active=True
            ).exclude(pk=checklist.pk).update(active=False)
        FidelityChecklist.objects.filter(pk=checklist.pk).update(active=active)
        checklist.active = active
        record(
            action="fidelity_checklist.activated" if active else "fidelity_checklist.retired",
            actor=changed_by,
            target=checklist,
            details={"programme": checklist.programme.slug, "version": checklist.version},
        )
    return checklist


# Fidelity checks --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCheck:
    check: FidelityCheck
    created: bool


def validate_scores(checklist: FidelityChecklist, scores: object) -> dict[int, int]:
    """Every item of the checklist scored exactly once, with a whole number on its scale.
    Returns {item id: score}."""
    if not isinstance(scores, list | tuple) or not all(
        isinstance(entry, Mapping) and set(entry) == {"item", "score"} for entry in scores
    ):
        raise DomainError(
            "invalid_scores", 'scores is a list of {"item": key, "score": number} objects.'
        )
    items = {item.key: item for item in checklist.items.all()}
    seen: dict[int, int] = {}
    for entry in scores:
        key, score = entry["item"], entry["score"]
        item = items.get(key) if isinstance(key, str) else None
        if item is None:
            raise DomainError("unknown_item", "A score names an item the checklist does not have.")
        if item.pk in seen:
            raise DomainError("duplicate_item", "Each item is scored exactly once.")
        if not _is_int(score):
            raise DomainError("invalid_score", "A score is a whole number.")
        if not 0 <= score <= item.scale_max:
            raise DomainError(
                "score_out_of_range", "A score is between 0 and the item's scale maximum."
            )
        seen[item.pk] = score
    if len(seen) != len(items):
        raise DomainError("missing_item", "Every item of the checklist needs a score.")
    return seen


def record_fidelity_check(
    *,
    session: SupervisionSession,
    peer_supporter_id: object,
    checklist_id: object,
    scores: object,
    recorded_by: User,
) -> RecordedCheck:
    """Score one participant's practice against one checklist version, once. Sending the same
    scores again returns the first check; different scores for the same check are a conflict
    (a recorded check is part of the fidelity record and is not silently overwritten)."""
    if recorded_by.pk != session.supervisor_id:
        raise _forbidden(
            "not_session_supervisor", "Only the session's supervisor records fidelity checks."
        )
    if (
        not _is_id(peer_supporter_id)
        or not session.peer_supporters.filter(pk=peer_supporter_id).exists()
    ):
        raise DomainError(
            "not_a_participant", "Fidelity is checked for a peer supporter who took part."
        )
    checklist = (
        FidelityChecklist.objects.filter(pk=checklist_id, programme_id=session.programme_id).first()
        if _is_id(checklist_id)
        else None
    )
    if checklist is None:
        raise DomainError("unknown_checklist", "No such checklist in the session's programme.")
    if not checklist.active:
        raise DomainError(
            "checklist_inactive", "This checklist version is retired: use the active one."
        )
    by_item = validate_scores(checklist, scores)
    total = sum(by_item.values())
    max_total = sum(item.scale_max for item in checklist.items.all())
    lookup = {
        "session": session,
        "peer_supporter_id": peer_supporter_id,
        "checklist": checklist,
    }
    existing = FidelityCheck.objects.filter(**lookup).first()
    if existing is not None:
        return _same_or_conflict(existing, by_item)
    try:
        with transaction.atomic():
            check = FidelityCheck.objects.create(
                **lookup, total=total, max_total=max_total, recorded_by=recorded_by
            )
            FidelityScore.objects.bulk_create(
                FidelityScore(check_record=check, item_id=item_id, score=score)
                for item_id, score in by_item.items()
            )
            record(
                action="fidelity_check.recorded",
                actor=recorded_by,
                target=check,
                details={
                    "session": str(session.pk),
                    "peer_supporter": peer_supporter_id,
                    "checklist": checklist.pk,
                    "version": checklist.version,
                    "total": total,
                    "max_total": max_total,
                },
            )
    except IntegrityError:
        existing = FidelityCheck.objects.filter(**lookup).first()
        if existing is None:
            raise
        return _same_or_conflict(existing, by_item)
    return RecordedCheck(check, created=True)


def _same_or_conflict(existing: FidelityCheck, by_item: dict[int, int]) -> RecordedCheck:
    stored = dict(existing.scores.values_list("item_id", "score"))
    if stored != by_item:
        raise Conflict(
            "fidelity_already_recorded",
            "This peer supporter's check against this checklist is already recorded.",
        )
    return RecordedCheck(existing, created=False)


# Training and certification ---------------------------------------------------------------


@dataclass(frozen=True)
class RecordedTraining:
    record: TrainingRecord
    created: bool


def record_training(
    *,
    programme: Programme,
    user_id: object,
    course_code: object,
    course_title: object,
    completed_on: object,
    certified_until: object,
    recorded_by: User,
) -> RecordedTraining:
    """Record a completed course once. Entering the same completion again changes nothing and
    returns the first record; the same completion with other details is a conflict, so that a
    typo is noticed instead of silently kept or silently overwritten."""
    if not has_role(recorded_by, programme, Role.ADMIN):
        raise _forbidden("forbidden", "Only programme admins record training.")
    if not _is_id(user_id) or not _holders(programme, [user_id], *TRAINEE_ROLES):
        raise DomainError(
            "not_peer_supporter_or_supervisor",
            "Training is recorded for peer supporters and supervisors of the programme.",
        )
    if not isinstance(course_code, str) or not COURSE_CODE.fullmatch(course_code):
        raise DomainError(
            "invalid_course_code",
            "A course code is 1 to 40 letters, digits, '.', '-' or '_', starting with a "
            "letter or digit.",
        )
    title = _check_text(
        course_title,
        code="invalid_course_title",
        what="A course title",
        max_chars=MAX_COURSE_TITLE_CHARS,
        blank=False,
    ).strip()
    completed = _check_date(completed_on, "invalid_date", "completed_on")
    if completed > programme_today(programme):
        raise DomainError("completed_in_future", "A course can't be recorded before it is done.")
    until = (
        None
        if certified_until is None
        else _check_date(certified_until, "invalid_date", "certified_until")
    )
    if until is not None and until <= completed:
        raise DomainError(
            "expiry_before_completion", "A certification expires after the course is completed."
        )
    lookup = {
        "user_id": user_id,
        "programme": programme,
        "course_code": course_code,
        "completed_on": completed,
    }
    wanted = {"course_title": title, "certified_until": until}
    existing = TrainingRecord.objects.filter(**lookup).first()
    if existing is not None:
        return _same_training_or_conflict(existing, wanted)
    try:
        with transaction.atomic():
            training = TrainingRecord.objects.create(**lookup, **wanted, recorded_by=recorded_by)
            record(
                action="training_record.created",
                actor=recorded_by,
                target=training,
                details={
                    "programme": programme.slug,
                    "user": user_id,
                    "course_code": course_code,
                    "completed_on": completed.isoformat(),
                    "certified_until": until.isoformat() if until else None,
                },
            )
    except IntegrityError:
        existing = TrainingRecord.objects.filter(**lookup).first()
        if existing is None:
            raise
        return _same_training_or_conflict(existing, wanted)
    return RecordedTraining(training, created=True)


def _same_training_or_conflict(
    existing: TrainingRecord, wanted: dict[str, Any]
) -> RecordedTraining:
    if (existing.course_title, existing.certified_until) != (
        wanted["course_title"],
        wanted["certified_until"],
    ):
        raise Conflict(
            "training_record_exists",
            "This completion is already recorded with other details.",
        )
    return RecordedTraining(existing, created=False)
