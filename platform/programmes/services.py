"""Writes for programmes: set-up, staff roles and teams, enrolment with allocation, caseloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
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
    Arm,
    CaseloadAssignment,
    Enrolment,
    EnrolmentStatus,
    HandoffReason,
    Organisation,
    PeerSupporterProfile,
    Programme,
    Role,
    Site,
    StaffRole,
    Team,
    TeamMembership,
)


@dataclass(frozen=True)
class ArmSpec:
    code: str
    name: str
    peer_support: bool
    supportive_texts: bool
    reminder_texts: bool
    allocation_weight: int = 1


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
    return enrolment


def active_caseload_size(peer_supporter: User) -> int:
    return CaseloadAssignment.objects.filter(
        peer_supporter=peer_supporter,
        ended_at__isnull=True,
        enrolment__status__in=[EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED],
    ).count()


@transaction.atomic
def assign_peer_supporter(
    *, enrolment: Enrolment, peer_supporter: User, assigned_by: User | None, reason: str
) -> CaseloadAssignment:
    """Assign or hand off. Idempotent: the current assignment to the same person is returned."""
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
    record(
        action="assignment.handoff" if current is not None else "assignment.created",
        actor=assigned_by,
        target=enrolment,
        details={
            "peer_supporter": peer_supporter.id,
            "previous_peer_supporter": current.peer_supporter_id if current else None,
            "reason": assignment.reason,
        },
    )
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
    record(action=f"enrolment.{status}", actor=ended_by, target=enrolment, details={})
    return enrolment
