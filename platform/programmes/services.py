"""Writes for programmes: set-up, staff roles and teams, enrolment with allocation, caseloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Prefetch
from django.utils import timezone

from audit.services import record
from encryption.models import DataKeyPurpose
from encryption.services import create_data_key
from messaging import events as messaging_events
from messaging.services import open_conversation
from peerlink.errors import Conflict, DomainError
from people.models import Channel, ConsentKind, ConsentSource, Participant, User
from people.services import (
    create_participant,
    grant_consent,
    normalise_phone,
    phone_index,
    validate_time_zone,
)
from programmes import randomisation
from programmes.models import (
    AgeBand,
    Arm,
    CaseloadAssignment,
    Enrolment,
    EnrolmentStatus,
    Gender,
    HandoffReason,
    Organisation,
    PeerChangeReason,
    PeerChangeRequest,
    PeerChangeStatus,
    PeerSupporterProfile,
    Programme,
    Role,
    Site,
    StaffRole,
    Team,
    TeamMembership,
)
from programmes.selectors import waiting_enrolments
from programmes.signals import enrolment_ended, enrolment_started
from staffing.availability import on_duty_peer_ids


@dataclass(frozen=True)
class ArmSpec:
    code: str
    name: str
    peer_support: bool
    supportive_texts: bool
    reminder_texts: bool
    allocation_weight: int = 1
    surveys: bool = True


# DESIGN.md §1: the four arms of the Edmonton Peer Support System trial.
EPSS_ARMS: tuple[ArmSpec, ...] = (
    ArmSpec("peer_support", "Peer support", True, False, False),
    ArmSpec("peer_support_texts", "Peer support and supportive texts", True, True, True),
    ArmSpec("texts", "Supportive texts", False, True, True),
    ArmSpec("usual_care", "Usual care", False, False, False),
)


@transaction.atomic
def create_programme(
    *,
    organisation: Organisation,
    slug: str,
    name: str,
    time_zone: str,
    languages: Sequence[str] = ("en",),
    crisis_resources: dict[str, str] | None = None,
    contact_text: dict[str, str] | None = None,
    sms_number: str = "",
    arms: Sequence[ArmSpec] = EPSS_ARMS,
    sites: Sequence[tuple[str, str]] = (),
    stratify_by_track: bool = False,
    auto_assign: bool = True,
) -> Programme:
    validate_time_zone(time_zone)
    if not languages:
        raise DomainError("invalid_languages", "A programme needs at least one language.")
    if Programme.objects.filter(slug=slug).exists():
        raise Conflict("programme_exists", "A programme with this slug already exists.")
    programme = Programme.objects.create(
        organisation=organisation,
        slug=slug,
        name=name,
        time_zone=time_zone,
        languages=list(languages),
        crisis_resources=crisis_resources or {},
        contact_text=contact_text or {},
        sms_number=normalise_phone(sms_number) if sms_number else "",
        stratify_by_track=stratify_by_track,
        auto_assign=auto_assign,
        data_key=create_data_key(purpose=DataKeyPurpose.PROGRAMME),
    )
    for spec in arms:
        Arm.objects.create(
            programme=programme,
            code=spec.code,
            name=spec.name,
            allocation_weight=spec.allocation_weight,
            peer_support=spec.peer_support,
            supportive_texts=spec.supportive_texts,
            reminder_texts=spec.reminder_texts,
            surveys=spec.surveys,
        )
    for code, site_name in sites:
        Site.objects.create(programme=programme, code=code, name=site_name)
    return programme


@transaction.atomic
def grant_role(
    *, user: User, programme: Programme, role: str, granted_by: User | None = None
) -> StaffRole:
    if role not in Role.values:
        raise DomainError("invalid_role", "Unknown role.")
    if user.is_participant:
        raise DomainError("invalid_role", "A service user cannot hold a staff role.")
    staff_role, created = StaffRole.objects.get_or_create(user=user, programme=programme, role=role)
    if role == Role.PEER_SUPPORTER:
        PeerSupporterProfile.objects.get_or_create(user=user)
    if created:
        record(
            action="role.granted",
            actor=granted_by,
            target=user,
            details={"programme": programme.slug, "role": role},
        )
    return staff_role


@transaction.atomic
def create_team(*, programme: Programme, name: str, supervisor: User) -> Team:
    if not StaffRole.objects.filter(
        user=supervisor, programme=programme, role=Role.SUPERVISOR
    ).exists():
        raise DomainError("not_a_supervisor", "A team's supervisor must hold the supervisor role.")
    team, _ = Team.objects.get_or_create(
        programme=programme, name=name, defaults={"supervisor": supervisor}
    )
    return team


@transaction.atomic
def add_to_team(*, team: Team, peer_supporter: User) -> TeamMembership:
    if not StaffRole.objects.filter(
        user=peer_supporter, programme=team.programme, role=Role.PEER_SUPPORTER
    ).exists():
        raise DomainError("not_a_peer_supporter", "Only peer supporters join a team.")
    existing = TeamMembership.objects.filter(
        programme=team.programme, peer_supporter=peer_supporter
    ).first()
    if existing is not None:
        if existing.team_id != team.id:
            raise Conflict("already_in_team", "This peer supporter is already in another team.")
        return existing
    return TeamMembership.objects.create(
        team=team, peer_supporter=peer_supporter, programme=team.programme
    )


@transaction.atomic
def enrol_participant(
    *,
    programme: Programme,
    site: Site,
    name: str,
    phone: str,
    language: str,
    time_zone: str,
    enrolled_by: User | None,
    preferred_channel: str = Channel.SMS,
    track: str = "general",
    discharge_date: dt.date | None = None,
    sms_consent_version: str | None = None,
    research_consent_version: str | None = None,
    age_band: str = AgeBand.NOT_RECORDED,
    gender: str = Gender.NOT_RECORDED,
) -> Enrolment:
    """Enrol a person (new or known by phone), allocate their arm, and reveal it (audited).

    Everything happens in one transaction: on any refusal nothing is written.
    """
    if site.programme_id != programme.id:
        raise DomainError("invalid_site", "The site does not belong to this programme.")
    if language not in programme.languages:
        raise DomainError("invalid_language", "The programme does not offer this language.")
    if discharge_date is not None and discharge_date > timezone.localdate():
        raise DomainError("invalid_discharge_date", "The discharge date is in the future.")
    if age_band not in AgeBand.values:
        raise DomainError("invalid_age_band", "Unknown age band: choose one from the list.")
    if gender not in Gender.values:
        raise DomainError("invalid_gender", "Unknown gender: choose one from the list.")
    participant = Participant.objects.filter(phone_index=phone_index(phone)).first()
    if participant is None:
        participant = create_participant(
            name=name,
            phone=phone,
            language=language,
            time_zone=time_zone,
            preferred_channel=preferred_channel,
        )
    elif Enrolment.objects.filter(participant=participant, programme=programme).exists():
        raise Conflict("already_enrolled", "This person is already enrolled in the programme.")
    allocation = randomisation.allocate(programme=programme, site=site, track=track)
    try:
        with transaction.atomic():
            enrolment = Enrolment.objects.create(
                participant=participant,
                programme=programme,
                site=site,
                arm=allocation.arm,
                track=track,
                discharge_date=discharge_date,
                enrolled_at=timezone.now(),
                enrolled_by=enrolled_by,
                stratum=allocation.stratum,
                allocation_number=allocation.number,
                age_band=age_band,
                gender=gender,
            )
    except IntegrityError:
        raise Conflict(
            "already_enrolled", "This person is already enrolled in the programme."
        ) from None
    if sms_consent_version:
        grant_consent(
            participant=participant,
            kind=ConsentKind.SMS,
            version=sms_consent_version,
            source=ConsentSource.STAFF,
            recorded_by=enrolled_by,
        )
    if research_consent_version:
        grant_consent(
            participant=participant,
            programme=programme,
            kind=ConsentKind.RESEARCH,
            version=research_consent_version,
            source=ConsentSource.STAFF,
            recorded_by=enrolled_by,
        )
    open_conversation(enrolment=enrolment)
    # Before the audit entries: a receiver may wait on a lock (the scheduler on the text
    # schedule), and the audit chain's lock is held from the first entry to the commit.
    enrolment_started.send(sender=Enrolment, enrolment=enrolment)
    record(
        action="enrolment.created",
        actor=enrolled_by,
        target=enrolment,
        details={"programme": programme.slug, "site": site.code, "track": track},
    )
    record(
        action="allocation.revealed",
        actor=enrolled_by,
        target=enrolment,
        details={
            "arm": allocation.arm.code,
            "stratum": allocation.stratum,
            "number": allocation.number,
        },
    )
    if programme.auto_assign and allocation.arm.peer_support:
        # Nobody suitable on duty: the person waits in the queue for `assign_waiting`.
        auto_assign(enrolment=enrolment)
    return enrolment


def active_caseload_size(peer_supporter: User) -> int:
    return CaseloadAssignment.objects.filter(
        peer_supporter=peer_supporter,
        ended_at__isnull=True,
        enrolment__status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED],
    ).count()


@transaction.atomic
def assign_peer_supporter(
    *,
    enrolment: Enrolment,
    peer_supporter: User,
    assigned_by: User | None,
    reason: str,
    auto: bool = False,
) -> CaseloadAssignment:
    """Assign or hand off. Idempotent: the current assignment to the same person is returned.

    A handoff for the reason `request` answers the person's open request for a different
    peer supporter, in the same transaction. `auto` marks an assignment made by `auto_assign`
    in the audit log."""
    if reason not in HandoffReason.values:
        raise DomainError("invalid_reason", "Unknown handoff reason.")
    enrolment = Enrolment.objects.select_for_update().select_related("arm").get(pk=enrolment.pk)
    if not enrolment.arm.peer_support:
        raise DomainError(
            "arm_without_peer_support", "This person's arm does not include peer support."
        )
    if enrolment.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED):
        raise DomainError("enrolment_ended", "This enrolment has ended.")
    if not StaffRole.objects.filter(
        user=peer_supporter, programme_id=enrolment.programme_id, role=Role.PEER_SUPPORTER
    ).exists():
        raise DomainError(
            "not_a_peer_supporter", "Only a peer supporter of this programme can be assigned."
        )
    current = CaseloadAssignment.objects.filter(enrolment=enrolment, ended_at__isnull=True).first()
    if current is not None and current.peer_supporter_id == peer_supporter.id:
        return current
    # Lock the peer supporter's profile so two concurrent assignments can't both pass the check.
    profile, _ = PeerSupporterProfile.objects.get_or_create(user=peer_supporter)
    profile = PeerSupporterProfile.objects.select_for_update().get(pk=profile.pk)
    if active_caseload_size(peer_supporter) >= profile.capacity:
        raise Conflict("caseload_full", "This peer supporter's caseload is at capacity.")
    if current is not None and reason == HandoffReason.INITIAL:
        raise DomainError("invalid_reason", "A handoff needs a reason other than 'initial'.")
    now = timezone.now()
    if current is not None:
        current.ended_at = now
        current.save(update_fields=["ended_at"])
    assignment = CaseloadAssignment.objects.create(
        enrolment=enrolment,
        peer_supporter=peer_supporter,
        started_at=now,
        reason=reason if current is not None else HandoffReason.INITIAL,
        assigned_by=assigned_by,
    )
    details: dict[str, object] = {
        "peer_supporter": peer_supporter.id,
        "previous_peer_supporter": current.peer_supporter_id if current else None,
        "reason": assignment.reason,
    }
    if auto:
        details["auto"] = True
    record(
        action="assignment.handoff" if current is not None else "assignment.created",
        actor=assigned_by,
        target=enrolment,
        details=details,
    )
    if current is not None and reason == HandoffReason.REQUEST:
        _close_change_request(enrolment=enrolment, handoff=assignment, handled_by=assigned_by)
    if current is not None:
        # Cover for the previous peer's time off ends with them: the new peer answers.
        from staffing.models import OffDutyCover

        OffDutyCover.objects.filter(
            conversation__enrolment=enrolment, ended_at__isnull=True
        ).update(ended_at=now)
    # Open sockets follow the caseload: both peer supporters' sockets re-subscribe.
    affected = [peer_supporter.pk] + ([current.peer_supporter_id] if current is not None else [])
    transaction.on_commit(lambda: messaging_events.caseload_changed(affected))
    return assignment


@transaction.atomic
def end_enrolment(*, enrolment: Enrolment, status: str, ended_by: User | None) -> Enrolment:
    if status not in (EnrolmentStatus.WITHDRAWN, EnrolmentStatus.COMPLETED):
        raise DomainError("invalid_status", "An enrolment ends as withdrawn or completed.")
    enrolment = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
    if enrolment.status in (EnrolmentStatus.WITHDRAWN, EnrolmentStatus.COMPLETED):
        return enrolment
    now = timezone.now()
    enrolment.status = status
    enrolment.ended_at = now
    enrolment.save(update_fields=["status", "ended_at"])
    ending = CaseloadAssignment.objects.filter(enrolment=enrolment, ended_at__isnull=True)
    affected = list(ending.values_list("peer_supporter_id", flat=True))
    ending.update(ended_at=now)
    transaction.on_commit(lambda: messaging_events.caseload_changed(affected))
    enrolment_ended.send(sender=Enrolment, enrolment=enrolment)
    # Last: the audit chain's lock is held from here to the commit.
    record(action=f"enrolment.{status}", actor=ended_by, target=enrolment, details={})
    return enrolment


def _close_change_request(
    *, enrolment: Enrolment, handoff: CaseloadAssignment, handled_by: User | None
) -> None:
    change = (
        PeerChangeRequest.objects.select_for_update()
        .filter(enrolment=enrolment, status=PeerChangeStatus.OPEN)
        .first()
    )
    if change is None:
        return
    change.status = PeerChangeStatus.HANDLED
    change.handled_by = handled_by
    change.handled_at = handoff.started_at
    change.handoff = handoff
    change.save(update_fields=["status", "handled_by", "handled_at", "handoff"])
    record(
        action="peer_change.handled",
        actor=handled_by,
        target=change,
        details={"enrolment": str(enrolment.pk), "handoff": handoff.pk},
    )


# Automatic assignment (DESIGN.md §1: manageable caseloads). Peer supporters are few per
# programme (tens), so candidates are filtered in Python after a handful of bulk queries; the
# capacity rule itself stays in `assign_peer_supporter`, under its lock.

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class _Candidate:
    profile: PeerSupporterProfile
    load: int
    last_assigned_at: dt.datetime | None
    # The programme's sites among those the profile covers; empty: all of them.
    site_ids: frozenset[int]

    @property
    def sort_key(self) -> tuple[int, bool, dt.datetime, int]:
        # Least loaded first; then whoever has waited longest for someone new (never first).
        return (
            self.load,
            self.last_assigned_at is not None,
            self.last_assigned_at or _NEVER,
            self.profile.user_id,
        )

    def suits(self, enrolment: Enrolment) -> bool:
        covers_site = not self.site_ids or enrolment.site_id in self.site_ids
        return covers_site and self.profile.speaks(enrolment.participant.language)


def _free_peers(programme: Programme, at: dt.datetime) -> list[_Candidate]:
    """The programme's peer supporters on duty at `at` with room on their caseload, best
    first."""
    peer_ids = StaffRole.objects.filter(programme=programme, role=Role.PEER_SUPPORTER).values(
        "user_id"
    )
    profiles = list(
        PeerSupporterProfile.objects.filter(user_id__in=peer_ids, user__is_active=True)
        .select_related("user")
        .prefetch_related(
            Prefetch("sites", queryset=Site.objects.filter(programme=programme), to_attr="here")
        )
    )
    on_duty = on_duty_peer_ids(profiles, at)
    if not on_duty:
        return []
    loads = dict(
        CaseloadAssignment.objects.filter(
            peer_supporter_id__in=on_duty,
            ended_at__isnull=True,
            enrolment__status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED],
        )
        .values("peer_supporter_id")
        .annotate(n=Count("id"))
        .values_list("peer_supporter_id", "n")
    )
    last_started = dict(
        CaseloadAssignment.objects.filter(peer_supporter_id__in=on_duty)
        .values("peer_supporter_id")
        .annotate(last=Max("started_at"))
        .values_list("peer_supporter_id", "last")
    )
    candidates = [
        _Candidate(
            profile=profile,
            load=loads.get(profile.user_id, 0),
            last_assigned_at=last_started.get(profile.user_id),
            site_ids=frozenset(site.pk for site in profile.here),  # type: ignore[attr-defined]
        )
        for profile in profiles
        if profile.user_id in on_duty and loads.get(profile.user_id, 0) < profile.capacity
    ]
    return sorted(candidates, key=lambda c: c.sort_key)


def _is_waiting(enrolment: Enrolment) -> bool:
    return (
        enrolment.arm.peer_support
        and enrolment.status in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED)
        and not CaseloadAssignment.objects.filter(
            enrolment=enrolment, ended_at__isnull=True
        ).exists()
    )


@transaction.atomic
def _auto_assign(
    *, enrolment: Enrolment, assigned_by: User | None, at: dt.datetime
) -> tuple[CaseloadAssignment | None, bool]:
    """The assignment made (or None) and whether any peer supporter had room at all."""
    # Locked first, as `assign_peer_supporter` does, so that two auto-assigners (enrolment and
    # beat) can't both see the person waiting and the second turn into a handoff.
    enrolment = (
        Enrolment.objects.select_for_update()
        .select_related("arm", "participant", "programme")
        .get(pk=enrolment.pk)
    )
    if not _is_waiting(enrolment):
        return None, True
    free = _free_peers(enrolment.programme, at)
    # Automation never gives someone back a peer supporter they asked to move away from.
    left = set(
        PeerChangeRequest.objects.filter(
            enrolment=enrolment, status=PeerChangeStatus.HANDLED
        ).values_list("assignment__peer_supporter_id", flat=True)
    )
    for candidate in free:
        if candidate.profile.user_id in left or not candidate.suits(enrolment):
            continue
        try:
            assignment = assign_peer_supporter(
                enrolment=enrolment,
                peer_supporter=candidate.profile.user,
                assigned_by=assigned_by,
                reason=HandoffReason.INITIAL,
                auto=True,
            )
        except Conflict as exc:
            # Filled up since we counted (another assignment committed first): the next one.
            if exc.code != "caseload_full":
                raise
            continue
        return assignment, True
    return None, bool(free)


def auto_assign(
    *, enrolment: Enrolment, assigned_by: User | None = None, at: dt.datetime | None = None
) -> CaseloadAssignment | None:
    """Assign a waiting person to the least-loaded peer supporter of their programme who is
    on duty at `at` (now by default), covers their site and speaks their language, with room
    on their caseload; ties go to whoever was last given someone longest ago, then to the
    lowest id. None, with nothing written, when the person isn't waiting or nobody suits:
    they stay in the queue."""
    assignment, _ = _auto_assign(
        enrolment=enrolment, assigned_by=assigned_by, at=at or timezone.now()
    )
    return assignment


def assign_waiting(*, programme: Programme | None = None, at: dt.datetime | None = None) -> int:
    """Auto-assign the waiting queues of programmes with `auto_assign` on, oldest wait first;
    the number assigned. Each assignment commits on its own, so that one refusal (or a crash
    half-way) keeps the assignments already made."""
    at = at or timezone.now()
    programmes = Programme.objects.filter(auto_assign=True).order_by("pk")
    if programme is not None:
        programmes = programmes.filter(pk=programme.pk)
    assigned = 0
    for each in programmes:
        if not _free_peers(each, at):
            continue
        for enrolment in waiting_enrolments(programme=each).only("pk"):
            assignment, anyone_free = _auto_assign(enrolment=enrolment, assigned_by=None, at=at)
            assigned += assignment is not None
            if not anyone_free:
                break
    return assigned


# Asking for a different peer supporter. The person is told that the request was received,
# never who comes next: that is the supervisor's choice, and it may be declined.


@transaction.atomic
def request_peer_change(
    *, enrolment: Enrolment, reason: str = "", requested_by: User | None
) -> tuple[PeerChangeRequest, bool]:
    """The open request for this enrolment, and whether this call created it: asking again
    while one is open changes nothing."""
    if reason and reason not in PeerChangeReason.values:
        raise DomainError("invalid_reason", "Unknown reason: choose one from the list.")
    enrolment = Enrolment.objects.select_for_update().select_related("arm").get(pk=enrolment.pk)
    existing = PeerChangeRequest.objects.filter(
        enrolment=enrolment, status=PeerChangeStatus.OPEN
    ).first()
    if existing is not None:
        return existing, False
    if enrolment.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED):
        raise DomainError("enrolment_ended", "This enrolment has ended.")
    if not enrolment.arm.peer_support:
        raise DomainError(
            "arm_without_peer_support", "This person's arm does not include peer support."
        )
    current = CaseloadAssignment.objects.filter(enrolment=enrolment, ended_at__isnull=True).first()
    if current is None:
        raise Conflict(
            "no_peer_supporter", "No peer supporter is assigned yet; one will be assigned soon."
        )
    change = PeerChangeRequest.objects.create(
        enrolment=enrolment, assignment=current, requested_at=timezone.now(), reason=reason
    )
    record(
        action="peer_change.requested",
        actor=requested_by,
        target=change,
        details={"enrolment": str(enrolment.pk), "reason": reason},
    )
    return change, True


@transaction.atomic
def decline_peer_change(
    *, change_request: PeerChangeRequest, declined_by: User | None
) -> PeerChangeRequest:
    """Close an open request without a handoff. Declining it again changes nothing."""
    change = PeerChangeRequest.objects.select_for_update().get(pk=change_request.pk)
    if change.status == PeerChangeStatus.DECLINED:
        return change
    if change.status == PeerChangeStatus.HANDLED:
        raise Conflict("request_handled", "This request was already answered by a handoff.")
    change.status = PeerChangeStatus.DECLINED
    change.handled_by = declined_by
    change.handled_at = timezone.now()
    change.save(update_fields=["status", "handled_by", "handled_at"])
    record(
        action="peer_change.declined",
        actor=declined_by,
        target=change,
        details={"enrolment": str(change.enrolment_id)},
    )
    return change
