"""Writes for risk alerts (DESIGN.md §3, data flow 6), in the Zulip `actions` style: each
write does everything its event implies, in one transaction, and rings doorbells after
commit.

`raise_signal` is the one way a worry enters: a crisis phrase (`screen_participant_message`,
`screen_intake_text`), a staff member's flag (`flag_message`), or a survey answer (issue 8
calls it with `source="survey"`). It is idempotent on the signal's natural key. On a new
alert it:
- records it, with an audit entry and the alert's own timeline;
- rings the assigned peer supporter (when on duty) and the programme's on-duty supervisors
  (every supervisor of the programme when nobody is on the rota: an alert never reaches
  nobody) with an `alert` frame;
- sends the person the programme's crisis resources, in their language, at most once per
  `crisis_reply_interval_minutes`;
- schedules the escalation texts (`escalate_due_alerts`, run by beat).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from audit.services import record
from encryption.services import FieldRef, encrypt
from messaging import events
from messaging.models import (
    Conversation,
    DeliveryStatus,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxTemplate,
    SenderRole,
    SmsIntake,
)
from messaging.risk import texts
from messaging.risk.detection import SEVERITY_RANK, Screening, screen
from messaging.risk.lexicon import lexicons_for
from messaging.risk.models import (
    UNRESOLVED,
    AlertEventKind,
    AlertStatus,
    Resolution,
    RiskAlert,
    RiskAlertEvent,
    RiskAlertNote,
    RiskCategory,
    RiskSignal,
    Severity,
    SignalSource,
)
from messaging.risk.selectors import alert_payload, alert_recipient_ids, may_handle, may_resolve
from messaging.services import first_row
from messaging.sms.outbox import queue_sms
from peerlink.errors import Conflict, DomainError, NotFound
from people.models import Participant, User
from people.selectors import sms_allowed
from programmes.models import Enrolment, Programme, Role, StaffRole
from staffing.availability import on_call_at_level, on_duty_supervisor_ids
from staffing.selectors import ids_with_phone

logger = logging.getLogger(__name__)

# Sent after commit with the alert's id (issue 7's dispatcher pauses supportive texts on
# `texts_paused_for`; receivers may react sooner).
risk_alert_opened = Signal()
risk_alert_resolved = Signal()

MAX_NOTE_CHARS = 4000
MAX_FLAG_NOTE_CHARS = 1000


def note_ref(note_id: uuid.UUID) -> FieldRef:
    return FieldRef(table="risk_riskalertnote", row=str(note_id), field="body")


def _event(
    alert: RiskAlert,
    kind: str,
    *,
    at: dt.datetime,
    actor: User | None = None,
    details: dict[str, object] | None = None,
) -> None:
    RiskAlertEvent.objects.create(
        alert=alert, kind=kind, actor=actor, details=details or {}, created_at=at
    )


def _ring(alert: RiskAlert, user_ids: Iterable[int]) -> None:
    payload = alert_payload(alert)
    recipients = sorted(set(user_ids))
    transaction.on_commit(lambda: events.alert_changed(recipients, payload))


def _escalation_steps(programme: Programme | None) -> list[int]:
    steps = programme.alert_escalation_minutes if programme is not None else [10, 20]
    if not isinstance(steps, list):
        # A malformed setting (edited by hand) must neither silence escalation nor fail the
        # message that raised the alert: the default steps apply.
        steps = [10, 20]
    return [
        int(step)
        for step in steps
        if isinstance(step, int) and not isinstance(step, bool) and step > 0
    ]


def _next_escalation(alert: RiskAlert, level_done: int) -> dt.datetime | None:
    steps = _escalation_steps(alert.programme)
    if level_done >= len(steps):
        return None
    return alert.opened_at + dt.timedelta(minutes=steps[level_done])


def _lock_subject(enrolment: Enrolment | None, intake: SmsIntake | None) -> None:
    """Serialise alert writes per person. Conversation first, then enrolment: the order the
    message path takes (post_message holds the conversation when it screens)."""
    if enrolment is not None:
        list(Conversation.objects.select_for_update().filter(enrolment=enrolment).values("pk"))
        list(Enrolment.objects.select_for_update().filter(pk=enrolment.pk).values("pk"))
    # An unknown number's texts each make a new intake entry, so no row stands for the
    # person: on PostgreSQL, a transaction-scoped advisory lock on the number's blind index
    # serialises them (SQLite serialises every write anyway).
    elif intake is not None and connection.vendor == "postgresql":
        key = int.from_bytes(
            hashlib.blake2b(intake.phone_index.encode(), digest_size=8).digest(),
            "big",
            signed=True,
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _unresolved(enrolment: Enrolment | None, intake: SmsIntake | None) -> RiskAlert | None:
    # An unknown number's texts each make an intake entry: they join the alert about the
    # same number (its blind index), as a person's messages join theirs.
    subject = (
        Q(enrolment=enrolment)
        if enrolment is not None
        else Q(intake__phone_index=intake.phone_index)  # type: ignore[union-attr]
    )
    # Locked: a supervisor resolving it at this moment makes us wait, and then (the status
    # re-checked) open a new alert rather than join a resolved one.
    return first_row(
        RiskAlert.objects.select_for_update(of=("self",))
        .select_related("programme", "enrolment__participant", "intake")
        .filter(subject, status__in=UNRESOLVED)
        .order_by("opened_at")
    )


def raise_signal(
    *,
    source: str,
    source_key: str,
    severity: str,
    categories: Sequence[str],
    enrolment: Enrolment | None = None,
    intake: SmsIntake | None = None,
    message: Message | None = None,
    raised_by: User | None = None,
    matched_entries: Sequence[int] = (),
    send_crisis_reply: bool = True,
) -> RiskAlert:
    """Record a reason to worry about one person (an enrolment, or an intake entry for a
    number that matched nobody) and open their alert, or join the one already unresolved."""
    if (enrolment is None) == (intake is None):
        raise ValueError("a signal is about one enrolment or one intake entry")
    if source not in SignalSource.values or severity not in Severity.values:
        raise DomainError("invalid_signal", "Unknown signal source or severity.")
    if not categories or not set(categories) <= set(RiskCategory.values):
        raise DomainError("invalid_signal", "Unknown risk category.")
    with transaction.atomic():
        # The key is looked up under the person's lock: the same signal raised twice at once
        # (a redelivered survey answer) waits here and finds the first, instead of failing on the
        # unique key.
        _lock_subject(enrolment, intake)
        existing = RiskSignal.objects.select_related("alert").filter(source_key=source_key).first()
        if existing is not None:
            return existing.alert
        now = timezone.now()
        alert = _unresolved(enrolment, intake)
        opened = alert is None
        if alert is None:
            programme = enrolment.programme if enrolment is not None else intake.programme  # type: ignore[union-attr]
            alert = RiskAlert.objects.create(
                programme=programme,
                enrolment=enrolment,
                intake=intake,
                severity=severity,
                categories=sorted(set(categories)),
                opened_at=now,
            )
            alert.next_escalation_at = _next_escalation(alert, 0)
            alert.save(update_fields=["next_escalation_at"])
        else:
            alert.categories = sorted(set(alert.categories) | set(categories))
            if SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]:
                alert.severity = severity
            alert.save(update_fields=["categories", "severity"])
        signal = RiskSignal.objects.create(
            alert=alert,
            source=source,
            source_key=source_key,
            message=message,
            raised_by=raised_by,
            severity=severity,
            categories=sorted(set(categories)),
            matched_entries=list(matched_entries),
            created_at=now,
        )
        details: dict[str, object] = {
            "signal": signal.pk,
            "source": source,
            "severity": severity,
            "categories": sorted(set(categories)),
        }
        _event(
            alert,
            AlertEventKind.OPENED if opened else AlertEventKind.SIGNAL,
            at=now,
            actor=raised_by,
            details=details,
        )
        record(
            action="risk_alert.opened" if opened else "risk_alert.signal",
            actor=raised_by,
            target=alert,
            details=details,
        )
        if send_crisis_reply:
            _send_crisis_resources(alert, now=now, key=source_key)
        recipients, fallback = alert_recipient_ids(alert, at=now)
        _event(
            alert,
            AlertEventKind.NOTIFIED,
            at=now,
            details={"users": sorted(recipients), "nobody_on_duty": fallback},
        )
        if fallback:
            logger.warning("risk alert with nobody on duty: alert=%s", alert.pk)
        _ring(alert, recipients)
        if opened:
            alert_id = alert.pk
            transaction.on_commit(
                lambda: risk_alert_opened.send(sender=RiskAlert, alert_id=alert_id)
            )
    return alert


def _conversation_of(alert: RiskAlert) -> Conversation | None:
    if alert.enrolment is None:
        return None
    return Conversation.objects.filter(enrolment=alert.enrolment).first()


def _person(alert: RiskAlert) -> Participant | None:
    return alert.enrolment.participant if alert.enrolment is not None else None


def _send_crisis_resources(alert: RiskAlert, *, now: dt.datetime, key: str) -> None:
    """The programme's crisis resources to the person, rate-limited per person (across their
    alerts), by the thread when they have a conversation (it reaches them by SMS if that is
    how they read), else by SMS."""
    programme = alert.programme
    interval = dt.timedelta(
        minutes=programme.crisis_reply_interval_minutes if programme is not None else 60
    )
    # An unknown number is one person however many intake entries its texts made: match it
    # by its blind index, as the intake and HELP replies are rate-limited.
    subject = (
        Q(enrolment=alert.enrolment)
        if alert.enrolment
        else Q(intake__phone_index=alert.intake.phone_index)  # type: ignore[union-attr]
    )
    if RiskAlert.objects.filter(subject, last_crisis_reply_at__gt=now - interval).exists():
        _event(alert, AlertEventKind.CRISIS_REPLY_HELD, at=now)
        return
    participant = _person(alert)
    language = participant.language if participant is not None else ""
    if not language:
        language = programme.languages[0] if programme is not None else "en"
    conversation = _conversation_of(alert)
    enrolment_open = alert.enrolment is not None and alert.enrolment.status in (
        "active",
        "paused",
    )
    if conversation is not None and enrolment_open:
        from messaging.services import post_message

        posted = post_message(
            conversation_id=conversation.pk,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.AUTOMATED,
            body=texts.crisis_reply(programme, language),
            client_id=f"crisis:{key}"[:80],
            sms_purpose=OutboxPurpose.CRISIS_REPLY,
        )
        if posted.payload.get("delivery") == DeliveryStatus.NOT_SENT:
            # In the thread for when they next open it, but no text reached the phone they
            # read on: not counted as sent, so the next signal tries again.
            _event(alert, AlertEventKind.CRISIS_REPLY_BLOCKED, at=now, details={"via": "thread"})
            return
        channel = "thread"
    elif participant is not None:
        if not sms_allowed(participant):
            _event(alert, AlertEventKind.CRISIS_REPLY_BLOCKED, at=now)
            return
        queue_sms(
            participant=participant,
            purpose=OutboxPurpose.CRISIS_REPLY,
            template=OutboxTemplate.CRISIS,
            programme=programme,
            language=language,
        )
        channel = "sms"
    else:
        queue_sms(
            intake=alert.intake,
            purpose=OutboxPurpose.CRISIS_REPLY,
            template=OutboxTemplate.CRISIS,
            programme=programme,
            language=language,
        )
        channel = "sms"
    alert.last_crisis_reply_at = now
    alert.save(update_fields=["last_crisis_reply_at"])
    _event(alert, AlertEventKind.CRISIS_REPLY, at=now, details={"via": channel})
    record(action="risk_alert.crisis_reply", target=alert, details={"via": channel})


def _screen(body: str, languages: Sequence[str]) -> Screening:
    return screen(body, lexicons_for(languages))


def screen_participant_message(
    *, message: Message, conversation: Conversation, body: str
) -> RiskAlert | None:
    """Screen what a person wrote in their conversation. Called inside the message's own
    transaction (post_message), so that a stored message and its alert commit together."""
    enrolment = conversation.enrolment
    participant = enrolment.participant
    programme = enrolment.programme
    screening = _screen(body, [participant.language, *programme.languages])
    if not screening.is_risk:
        return None
    return raise_signal(
        source=SignalSource.LEXICON,
        source_key=f"message:{message.pk}",
        severity=screening.severity,
        categories=screening.categories,
        enrolment=enrolment,
        message=message,
        matched_entries=screening.entry_ids,
    )


def screen_intake_text(
    *, intake: SmsIntake, enrolment: Enrolment | None, body: str
) -> RiskAlert | None:
    """Screen a text that no conversation could take (an unknown number, or a person without
    peer support): nobody reads those in real time, so a crisis in one must open an alert."""
    programme = enrolment.programme if enrolment is not None else intake.programme
    languages: list[str] = []
    if enrolment is not None:
        languages.append(enrolment.participant.language)
    if programme is not None:
        languages.extend(programme.languages)
    screening = _screen(body, languages or ["en"])
    if not screening.is_risk:
        return None
    return raise_signal(
        source=SignalSource.LEXICON,
        source_key=f"intake:{intake.pk}",
        severity=screening.severity,
        categories=screening.categories,
        enrolment=enrolment,
        intake=None if enrolment is not None else intake,
        matched_entries=screening.entry_ids,
    )


def screen_handled_text(*, enrolment: Enrolment, body: str, source_key: str) -> RiskAlert | None:
    """Screen a text another part of the service took (an SMS survey session, issue 8): an
    invalid answer such as "I want to die" must still reach a human."""
    screening = _screen(body, [enrolment.participant.language, *enrolment.programme.languages])
    if not screening.is_risk:
        return None
    return raise_signal(
        source=SignalSource.LEXICON,
        source_key=source_key,
        severity=screening.severity,
        categories=screening.categories,
        enrolment=enrolment,
        matched_entries=screening.entry_ids,
    )


def flag_message(
    *,
    message_id: uuid.UUID,
    by: User,
    category: str = RiskCategory.OTHER,
    severity: str = Severity.HIGH,
    note: str = "",
) -> RiskAlert:
    """A staff member's flag on a message of a conversation they work with (casework rules:
    the readable conversations). Flagging the same message twice is one signal."""
    from messaging.selectors import readable_conversation

    if category not in RiskCategory.values:
        raise DomainError("invalid_category", "Unknown risk category.")
    if severity not in Severity.values:
        raise DomainError("invalid_severity", "Severity is high or medium.")
    if not isinstance(note, str) or len(note) > MAX_FLAG_NOTE_CHARS:
        raise DomainError(
            "invalid_note", f"A flag's note holds at most {MAX_FLAG_NOTE_CHARS} characters."
        )
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or readable_conversation(by, message.conversation_id) is None:
        raise NotFound("not_found", "No such message.")
    conversation = Conversation.objects.select_related(
        "enrolment__programme", "enrolment__participant"
    ).get(pk=message.conversation_id)
    source_key = f"flag:{message.pk}:{by.pk}"
    with transaction.atomic():
        # A retried flag is the same flag: its note is not added a second time. Looked up
        # under the person's lock, so two deliveries at once cannot both miss it.
        _lock_subject(conversation.enrolment, None)
        repeated = RiskSignal.objects.filter(source_key=source_key).exists()
        alert = raise_signal(
            source=SignalSource.PEER_FLAG,
            source_key=source_key,
            severity=severity,
            categories=[category],
            enrolment=conversation.enrolment,
            message=message,
            raised_by=by,
            # A flag is a staff member's judgement: they talk to the person themselves.
            send_crisis_reply=False,
        )
        if note.strip() and not repeated:
            add_alert_note(alert_id=alert.pk, by=by, body=note)
    return alert


def _locked_alert(alert_id: uuid.UUID | str, user: User) -> RiskAlert:
    from messaging.risk.selectors import visible_alerts

    try:
        pk = uuid.UUID(str(alert_id))
    except ValueError:
        raise NotFound("not_found", "No such alert.") from None
    alert = (
        visible_alerts(user)
        .select_for_update(of=("self",))
        .select_related("programme", "enrolment__participant", "intake")
        .filter(pk=pk)
        .first()
    )
    if alert is None:
        raise NotFound("not_found", "No such alert.")
    return alert


def acknowledge_alert(*, alert_id: uuid.UUID | str, by: User) -> RiskAlert:
    """Someone has it: escalation stops. Acknowledging again changes nothing."""
    with transaction.atomic():
        alert = _locked_alert(alert_id, by)
        if not may_handle(by, alert):
            raise DomainError("forbidden", "Your role does not allow this.", http_status=403)
        if alert.status != AlertStatus.OPEN:
            return alert
        now = timezone.now()
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.acknowledged_by = by
        alert.next_escalation_at = None
        alert.save(
            update_fields=["status", "acknowledged_at", "acknowledged_by", "next_escalation_at"]
        )
        _event(alert, AlertEventKind.ACKNOWLEDGED, at=now, actor=by)
        record(
            action="risk_alert.acknowledged",
            actor=by,
            target=alert,
            details={"minutes_open": int((now - alert.opened_at).total_seconds() // 60)},
        )
        _ring(alert, alert_recipient_ids(alert, at=now)[0] | {by.pk})
    return alert


def resolve_alert(
    *, alert_id: uuid.UUID | str, by: User, resolution: str, note: str = ""
) -> RiskAlert:
    """Close the alert with what happened (supervisors). Resolving again is refused."""
    if resolution not in Resolution.values:
        raise DomainError(
            "invalid_resolution", f"resolution is one of: {', '.join(Resolution.values)}."
        )
    with transaction.atomic():
        alert = _locked_alert(alert_id, by)
        if not may_resolve(by, alert):
            raise DomainError("forbidden", "Only supervisors resolve risk alerts.", http_status=403)
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict("already_resolved", "This alert is already resolved.")
        now = timezone.now()
        if note.strip():
            add_alert_note(alert_id=alert.pk, by=by, body=note)
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = now, by
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at, alert.resolved_by = now, by
        alert.resolution = resolution
        alert.next_escalation_at = None
        alert.save()
        _event(alert, AlertEventKind.RESOLVED, at=now, actor=by, details={"resolution": resolution})
        record(
            action="risk_alert.resolved",
            actor=by,
            target=alert,
            details={"resolution": resolution},
        )
        _ring(alert, alert_recipient_ids(alert, at=now)[0] | {by.pk})
        alert_pk = alert.pk
        transaction.on_commit(lambda: risk_alert_resolved.send(sender=RiskAlert, alert_id=alert_pk))
    return alert


def add_alert_note(*, alert_id: uuid.UUID | str, by: User, body: str) -> RiskAlertNote:
    """A note on the alert, encrypted under the person's data key (or the intake entry's)."""
    if not isinstance(body, str) or not body.strip():
        raise DomainError("empty_body", "A note needs some text.")
    if len(body) > MAX_NOTE_CHARS:
        raise DomainError("body_too_long", f"A note holds at most {MAX_NOTE_CHARS} characters.")
    with transaction.atomic():
        alert = _locked_alert(alert_id, by)
        if not may_handle(by, alert):
            raise DomainError("forbidden", "Your role does not allow this.", http_status=403)
        now = timezone.now()
        note_id = uuid.uuid4()
        data_key = (
            alert.enrolment.participant.data_key
            if alert.enrolment is not None
            else alert.intake.data_key  # type: ignore[union-attr]
        )
        note = RiskAlertNote(
            id=note_id,
            alert=alert,
            author=by,
            body_ciphertext=encrypt(data_key=data_key, plaintext=body, ref=note_ref(note_id)),
            created_at=now,
        )
        note.save(force_insert=True)
        _event(alert, AlertEventKind.NOTE, at=now, actor=by, details={"note": str(note_id)})
        record(action="risk_alert.note_added", actor=by, target=alert, details={})
    return note


# When a step reached nobody, the same step is tried again after this long.
UNREACHABLE_RETRY = dt.timedelta(minutes=5)


def escalate_due_alerts(*, now: dt.datetime | None = None, batch: int = 100) -> int:
    """Beat: text the next on-call level for every open alert whose escalation is due, claimed
    with SKIP LOCKED on PostgreSQL so that two sweepers never text the same step twice. Each
    alert in its own savepoint: one that fails is logged and retried next tick, and does not
    hold back the others. Returns how many steps were taken."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            due = list(
                RiskAlert.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("programme")
                .filter(status=AlertStatus.OPEN, next_escalation_at__lte=now)
                .order_by("next_escalation_at")[:batch]
            )
            for alert in due:
                try:
                    with transaction.atomic():
                        _escalate(alert, now=now)
                except Exception as exc:
                    logger.error(
                        "risk alert escalation failed: alert=%s %s", alert.pk, type(exc).__name__
                    )
                    RiskAlert.objects.filter(pk=alert.pk).update(
                        next_escalation_at=now + dt.timedelta(minutes=1)
                    )
        done += len(due)
        if len(due) < batch:
            return done


@dataclass(frozen=True)
class EscalationTargets:
    texted: list[int]
    reached: str  # on_call | on_call_other_level | all_supervisors
    no_phone: list[int]  # on call at the level, but without an escalation phone


def _escalation_targets(alert: RiskAlert, level: int, now: dt.datetime) -> EscalationTargets:
    """Who is texted at this step: the supervisors on call at the level with an escalation
    phone; when there are none, anyone on call with one; when there are none, every
    supervisor of the programme with one (of every programme, for an unknown number's alert
    that no programme owns). An alert must not stop at an empty rota."""
    programme = alert.programme
    at_level: set[int] = set()
    if programme is not None:
        at_level = {u.pk for u in on_call_at_level(programme, level, now)}
    reachable = ids_with_phone(at_level)
    no_phone = sorted(at_level - reachable)
    if reachable:
        return EscalationTargets(sorted(reachable), "on_call", no_phone)
    if programme is not None:
        anyone_on_call = ids_with_phone(on_duty_supervisor_ids(programme, now))
        if anyone_on_call:
            return EscalationTargets(sorted(anyone_on_call), "on_call_other_level", no_phone)
    supervisors = StaffRole.objects.filter(role=Role.SUPERVISOR)
    if programme is not None:
        supervisors = supervisors.filter(programme=programme)
    everyone = ids_with_phone(set(supervisors.values_list("user_id", flat=True)))
    return EscalationTargets(sorted(everyone), "all_supervisors", no_phone)


def _escalate(alert: RiskAlert, *, now: dt.datetime) -> None:
    programme = alert.programme
    level = alert.escalation_level + 1
    targets = _escalation_targets(alert, level, now)
    texted = targets.texted
    for supervisor_id in texted:
        queue_sms(
            staff_id=supervisor_id,
            purpose=OutboxPurpose.ESCALATION,
            template=OutboxTemplate.ESCALATION,
            programme=programme,
        )
    details: dict[str, object] = {
        "level": level,
        "texted": texted,
        "no_phone": targets.no_phone,
        "reached": targets.reached,
    }
    if texted:
        alert.escalation_level = level
        alert.next_escalation_at = _next_escalation(alert, level)
    else:
        # Nobody has an escalation phone: try the same step again soon (someone may add one,
        # or come on call), and keep saying so in the log.
        alert.next_escalation_at = now + UNREACHABLE_RETRY
    alert.save(update_fields=["escalation_level", "next_escalation_at"])
    kind = AlertEventKind.ESCALATED if texted else AlertEventKind.ESCALATION_UNREACHABLE
    _event(alert, kind, at=now, details=details)
    record(
        action="risk_alert.escalated" if texted else "risk_alert.escalation_unreachable",
        target=alert,
        details=details,
    )
    if not texted:
        logger.warning("risk alert escalation reached nobody: alert=%s level=%s", alert.pk, level)
    _ring(alert, set(texted) | alert_recipient_ids(alert, at=now)[0])
