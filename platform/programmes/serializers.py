from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework import serializers

from people.models import Channel, User
from people.selectors import mask_phone, participant_profile, staff_display_name
from programmes.models import (
    AgeBand,
    CaseloadAssignment,
    Enrolment,
    Gender,
    HandoffReason,
    PeerChangeReason,
    PeerChangeRequest,
    Programme,
    Role,
)


class ProgrammeSerializer(serializers.ModelSerializer[Programme]):
    organisation = serializers.CharField(source="organisation.slug")
    sites = serializers.SerializerMethodField()
    arms = serializers.SerializerMethodField()

    class Meta:
        model = Programme
        fields = [
            "slug",
            "name",
            "organisation",
            "time_zone",
            "languages",
            "crisis_resources",
            "contact_text",
            "sites",
            "arms",
        ]

    def get_sites(self, programme: Programme) -> list[dict[str, str]]:
        return [{"code": s.code, "name": s.name} for s in programme.sites.order_by("code")]

    def get_arms(self, programme: Programme) -> list[dict[str, Any]]:
        return [
            {"code": a.code, "name": a.name, "services": a.services} for a in programme.arms.all()
        ]


class EnrolSerializer(serializers.Serializer[Any]):
    site = serializers.SlugField()
    name = serializers.CharField(max_length=200)
    phone = serializers.CharField(max_length=32)
    language = serializers.CharField(max_length=16)
    time_zone = serializers.CharField(max_length=64)
    preferred_channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.SMS)
    track = serializers.SlugField(max_length=50, default="general")
    discharge_date = serializers.DateField(required=False, allow_null=True)
    sms_consent_version = serializers.CharField(max_length=32, required=False, allow_blank=True)
    research_consent_version = serializers.CharField(
        max_length=32, required=False, allow_blank=True
    )
    # For the anonymised evaluator export only: never in `enrolment_payload`.
    age_band = serializers.ChoiceField(choices=AgeBand.choices, default=AgeBand.NOT_RECORDED)
    gender = serializers.ChoiceField(choices=Gender.choices, default=Gender.NOT_RECORDED)


class AssignSerializer(serializers.Serializer[Any]):
    peer_supporter = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=HandoffReason.choices, default=HandoffReason.INITIAL)


def staff_summary(user: User) -> dict[str, Any]:
    return {"id": user.id, "display_name": staff_display_name(user)}


def enrolment_payload(enrolment: Enrolment, *, viewer_roles: set[str]) -> dict[str, Any]:
    """What a permitted viewer sees of an enrolment. Only programme admins see the arm code
    and the full phone number; everyone else sees the services and a masked number."""
    participant = enrolment.participant
    profile = participant_profile(participant)
    is_admin = Role.ADMIN in viewer_roles
    active = getattr(enrolment, "active_assignments", None)
    if active is None:
        active = list(
            enrolment.assignments.filter(ended_at__isnull=True).select_related("peer_supporter")
        )
    payload: dict[str, Any] = {
        "id": str(enrolment.id),
        "programme": enrolment.programme.slug,
        "site": enrolment.site.code,
        "track": enrolment.track,
        "status": enrolment.status,
        "enrolled_at": enrolment.enrolled_at.isoformat(),
        "discharge_date": enrolment.discharge_date.isoformat()
        if enrolment.discharge_date
        else None,
        "services": enrolment.arm.services,
        "peer_supporter": staff_summary(active[0].peer_supporter) if active else None,
        "participant": {
            "id": str(participant.id),
            "display_name": profile.name,
            "phone": profile.phone if is_admin else mask_phone(profile.phone),
            "language": participant.language,
            "time_zone": participant.time_zone,
            "preferred_channel": participant.preferred_channel,
        },
    }
    if is_admin:
        payload["arm"] = enrolment.arm.code
    return payload


def assignment_payload(assignment: CaseloadAssignment) -> dict[str, Any]:
    return {
        "id": assignment.id,
        "peer_supporter": staff_summary(assignment.peer_supporter),
        "started_at": assignment.started_at.isoformat(),
        "ended_at": assignment.ended_at.isoformat() if assignment.ended_at else None,
        "reason": assignment.reason,
        "assigned_by": assignment.assigned_by_id,
    }


class PeerChangeSerializer(serializers.Serializer[Any]):
    # A code, checked by the service (`invalid_reason`) so that a sentence typed here is
    # neither stored nor echoed back: what the person would write about a named staff member
    # belongs in the conversation.
    reason = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="One of: " + ", ".join(PeerChangeReason.values) + "; or empty.",
    )
    # Only needed by someone enrolled in more than one programme with peer support.
    enrolment = serializers.UUIDField(required=False)


def waiting_payload(enrolment: Enrolment, *, now: dt.datetime) -> dict[str, Any]:
    """One person in the waiting queue: what a supervisor needs to match a peer supporter,
    no name or number (they open the enrolment for those, which is audited)."""
    waiting_since: dt.datetime = enrolment.waiting_since  # type: ignore[attr-defined]
    return {
        "enrolment": str(enrolment.id),
        "site": enrolment.site.code,
        "language": enrolment.participant.language,
        "status": enrolment.status,
        "enrolled_at": enrolment.enrolled_at.isoformat(),
        "waiting_since": waiting_since.isoformat(),
        "waited_seconds": max(int((now - waiting_since).total_seconds()), 0),
        "previously_assigned": enrolment.last_assignment_ended_at is not None,  # type: ignore[attr-defined]
    }


def own_change_request_payload(change: PeerChangeRequest) -> dict[str, Any]:
    """What the person sees of their own request: never who supports them next."""
    return {
        "id": change.id,
        "status": change.status,
        "reason": change.reason,
        "requested_at": change.requested_at.isoformat(),
    }


def change_request_payload(change: PeerChangeRequest) -> dict[str, Any]:
    enrolment = change.enrolment
    return {
        "id": change.id,
        "enrolment": str(enrolment.id),
        "site": enrolment.site.code,
        "language": enrolment.participant.language,
        "peer_supporter": staff_summary(change.assignment.peer_supporter),
        "reason": change.reason,
        "status": change.status,
        "requested_at": change.requested_at.isoformat(),
        "handled_by": change.handled_by_id,
        "handled_at": change.handled_at.isoformat() if change.handled_at else None,
    }
