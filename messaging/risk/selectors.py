"""Reads for risk alerts, narrowed to what the user may see.

Who sees an alert: the peer supporter assigned to the person, and every supervisor of the
programme (an on-call supervisor answers for every team). Programme admins, evaluators and
service users see none. Alerts about a number that matched nobody (no programme) are seen by
every supervisor, like the unrouted SMS intake.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from access.permissions import AnyUser, has_role, programmes_with_role
from encryption.services import decrypt
from messaging.models import Conversation
from messaging.risk.models import UNRESOLVED, AlertStatus, RiskAlert, RiskAlertNote
from people.models import User
from people.selectors import staff_display_name
from programmes.models import CaseloadAssignment, Enrolment, Role, StaffRole
from staffing.availability import on_duty_supervisor_ids, peer_on_duty


def visible_alerts(user: AnyUser) -> QuerySet[RiskAlert]:
    if not isinstance(user, User) or not user.is_authenticated:
        return RiskAlert.objects.none()
    supervised = programmes_with_role(user, Role.SUPERVISOR)
    caseload = CaseloadAssignment.objects.filter(peer_supporter=user, ended_at__isnull=True)
    rule = Q(programme__in=supervised) | Q(enrolment__in=caseload.values("enrolment_id"))
    if StaffRole.objects.filter(user=user, role=Role.SUPERVISOR).exists():
        rule |= Q(programme__isnull=True)
    return RiskAlert.objects.filter(rule)


def get_visible_alert(user: AnyUser, alert_id: object) -> RiskAlert | None:
    import uuid

    try:
        pk = uuid.UUID(str(alert_id))
    except ValueError:
        return None
    return (
        visible_alerts(user)
        .select_related("programme", "enrolment__participant__data_key", "intake__data_key")
        .filter(pk=pk)
        .first()
    )


def _is_supervisor_for(user: AnyUser, alert: RiskAlert) -> bool:
    if not isinstance(user, User):
        return False
    if alert.programme is None:
        return StaffRole.objects.filter(user=user, role=Role.SUPERVISOR).exists()
    return has_role(user, alert.programme, Role.SUPERVISOR)


def may_handle(user: AnyUser, alert: RiskAlert) -> bool:
    """Acknowledge and add notes: the programme's supervisors and the assigned peer."""
    if not isinstance(user, User):
        return False
    if _is_supervisor_for(user, alert):
        return True
    return (
        alert.enrolment_id is not None
        and CaseloadAssignment.objects.filter(
            enrolment_id=alert.enrolment_id, peer_supporter=user, ended_at__isnull=True
        ).exists()
    )


def may_resolve(user: AnyUser, alert: RiskAlert) -> bool:
    """Closing an alert is a supervisor's decision."""
    return _is_supervisor_for(user, alert)


def assigned_peer_id(enrolment_id: Any) -> int | None:
    if enrolment_id is None:
        return None
    return (
        CaseloadAssignment.objects.filter(enrolment_id=enrolment_id, ended_at__isnull=True)
        .values_list("peer_supporter_id", flat=True)
        .first()
    )


def alert_recipient_ids(
    alert: RiskAlert, *, at: dt.datetime | None = None
) -> tuple[set[int], bool]:
    """Whose sockets hear of the alert: the assigned peer supporter when on duty, and the
    programme's on-duty supervisors. When no supervisor is on duty, every supervisor of the
    programme (the second value says so): an alert never reaches nobody."""
    at = at or timezone.now()
    recipients: set[int] = set()
    peer_id = assigned_peer_id(alert.enrolment_id)
    if peer_id is not None and peer_on_duty(User.objects.get(pk=peer_id), at):
        recipients.add(peer_id)
    supervisors = on_duty_supervisor_ids(alert.programme, at) if alert.programme else set()
    fallback = not supervisors
    if fallback:
        everyone = StaffRole.objects.filter(role=Role.SUPERVISOR)
        if alert.programme is not None:
            everyone = everyone.filter(programme=alert.programme)
        supervisors = set(everyone.values_list("user_id", flat=True))
    return recipients | supervisors, fallback


def alert_payload(alert: RiskAlert) -> dict[str, Any]:
    """The alert object of `alert` frames and the API: ids, codes and times, never text."""
    conversation_id = None
    if alert.enrolment is not None:
        # Lists select `enrolment__conversation` with the alert: no query per alert here.
        try:
            conversation_id = alert.enrolment.conversation.pk
        except Conversation.DoesNotExist:
            conversation_id = None  # an arm without peer support has no conversation
    return {
        "id": str(alert.pk),
        "status": alert.status,
        "severity": alert.severity,
        "categories": list(alert.categories),
        "programme": alert.programme.slug if alert.programme is not None else None,
        "enrolment": str(alert.enrolment_id) if alert.enrolment_id else None,
        "conversation": str(conversation_id) if conversation_id else None,
        "intake": str(alert.intake_id) if alert.intake_id else None,
        "opened_at": alert.opened_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by_id,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolution": alert.resolution or None,
        "escalation_level": alert.escalation_level,
        "next_escalation_at": alert.next_escalation_at.isoformat()
        if alert.next_escalation_at
        else None,
    }


def alert_list(user: AnyUser, *, status: str | None = None) -> list[dict[str, Any]]:
    """Newest first. `status`: open, acknowledged, resolved, or unresolved (the default)."""
    alerts = visible_alerts(user).select_related("programme", "enrolment__conversation")
    if status in (None, "unresolved"):
        alerts = alerts.filter(status__in=UNRESOLVED)
    else:
        alerts = alerts.filter(status=status)
    return [alert_payload(alert) for alert in alerts.order_by("-opened_at")[:500]]


def unresolved_alerts_for_socket(user: User) -> list[dict[str, Any]]:
    """What a staff socket is told when it connects (and reconnects): every unresolved alert
    it may see, so that an alert whose doorbell was lost (Redis down) still reaches them.
    Off-duty peer supporters are told nothing in real time."""
    if user.is_participant:
        return []
    supervises = StaffRole.objects.filter(user=user, role=Role.SUPERVISOR).exists()
    if not supervises and not peer_on_duty(user):
        return []
    newest = (
        visible_alerts(user)
        .select_related("programme", "enrolment__conversation")
        .filter(status__in=UNRESOLVED)
        .order_by("-opened_at")[:200]
    )
    return [alert_payload(alert) for alert in reversed(list(newest))]


def alert_detail(alert: RiskAlert) -> dict[str, Any]:
    """The alert with its signals, timeline and decrypted notes (callers audit the read)."""
    from messaging.risk.services import note_ref

    data_key = (
        alert.enrolment.participant.data_key
        if alert.enrolment is not None
        else alert.intake.data_key  # type: ignore[union-attr]
    )
    notes = RiskAlertNote.objects.filter(alert=alert).select_related("author")
    return {
        **alert_payload(alert),
        "signals": [
            {
                "id": signal.pk,
                "source": signal.source,
                "severity": signal.severity,
                "categories": signal.categories,
                "message": str(signal.message_id) if signal.message_id else None,
                "raised_by": signal.raised_by_id,
                "created_at": signal.created_at.isoformat(),
            }
            for signal in alert.signals.order_by("created_at", "pk")
        ],
        "events": [
            {
                "kind": event.kind,
                "actor": event.actor_id,
                "details": event.details,
                "created_at": event.created_at.isoformat(),
            }
            for event in alert.events.all()
        ],
        "notes": [
            {
                "id": str(note.id),
                "author": {"id": note.author_id, "display_name": staff_display_name(note.author)},
                "body": decrypt(
                    data_key=data_key,
                    ciphertext=bytes(note.body_ciphertext),
                    ref=note_ref(note.id),
                ),
                "created_at": note.created_at.isoformat(),
            }
            for note in notes.order_by("created_at", "pk")
        ],
    }


def texts_paused_for(enrolment: Enrolment) -> bool:
    """Whether scheduled supportive texts to this person wait (issue 7's dispatcher asks):
    while a risk alert about them is unresolved, when the programme says so."""
    return enrolment.pk in texts_paused_ids([enrolment.pk])


def texts_paused_ids(enrolment_ids: Iterable[Any]) -> set[Any]:
    """Of these enrolments, those whose supportive texts an unresolved alert holds (their
    programme pauses texts during alerts): one query for the dispatcher's whole batch."""
    return set(
        RiskAlert.objects.filter(
            enrolment_id__in=list(enrolment_ids),
            status__in=UNRESOLVED,
            enrolment__programme__pause_texts_during_alert=True,
        ).values_list("enrolment_id", flat=True)
    )


def open_alert_count(programme_ids: list[int] | None = None) -> dict[str, int]:
    alerts = RiskAlert.objects.filter(status__in=UNRESOLVED)
    if programme_ids is not None:
        alerts = alerts.filter(programme_id__in=programme_ids)
    return {
        "open": alerts.filter(status=AlertStatus.OPEN).count(),
        "acknowledged": alerts.filter(status=AlertStatus.ACKNOWLEDGED).count(),
    }
