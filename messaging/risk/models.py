"""Crisis lexicons and risk alerts (DESIGN.md §3, data flow 6).

A `RiskSignal` is one reason to worry (a crisis phrase in a message, a peer supporter's flag,
a risky survey answer), kept once by its natural key. Signals open a `RiskAlert`, one
unresolved alert per person: a further signal while it is unresolved joins it instead of
opening another. The alert moves open -> acknowledged -> resolved; its `RiskAlertEvent`s say
who did what when (each also audited), and its notes are encrypted under the person's key.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class LexiconKind(models.TextChoices):
    PHRASE = "phrase", "A phrase (words in order; * stands for up to three words)"
    PATTERN = "pattern", "A regular expression over the normalised text"
    EXCLUSION = "exclusion", "A phrase that cancels any match inside it (hyperbole)"
    SPELLING = "spelling", "A misspelling or slang word and what it means"
    NEGATION = "negation", "A word that negates a match that follows it closely"
    FILLER = "filler", "A word that may stand between a negation and what it negates"


class LexiconSource(models.TextChoices):
    FILE = "file", "Shipped data file"
    ADMIN = "admin", "Added by a programme admin"


class RiskCategory(models.TextChoices):
    SUICIDE = "suicide", "Suicidal thoughts, plan or intent"
    SELF_HARM = "self_harm", "Self-harm"
    HARM_TO_OTHERS = "harm_to_others", "Intent to harm someone else"
    IN_DANGER = "in_danger", "In danger from someone else"
    OTHER = "other", "Other concern"


class Severity(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"


class LexiconEntry(models.Model):
    """One line of a language's lexicon. Shipped entries are loaded from
    `messaging/risk/lexicons/<language>.yaml` on migrate; admins add their own and switch any
    off (a reload never switches an entry back on)."""

    language = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=LexiconKind.choices)
    text = models.CharField(max_length=300)
    # For spellings: what the word means ("kms" -> "kill myself").
    replacement = models.CharField(max_length=200, blank=True)
    category = models.CharField(
        max_length=16, choices=RiskCategory.choices, default=RiskCategory.SUICIDE, blank=True
    )
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.HIGH)
    active = models.BooleanField(default=True)
    source = models.CharField(
        max_length=8, choices=LexiconSource.choices, default=LexiconSource.ADMIN
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "lexicon entries"
        constraints = [
            models.UniqueConstraint(
                fields=["language", "kind", "text"], name="unique_lexicon_entry"
            )
        ]
        ordering = ["language", "kind", "text"]

    def __str__(self) -> str:
        return f"{self.language} {self.kind}: {self.text}"


class SignalSource(models.TextChoices):
    LEXICON = "lexicon", "Crisis phrase in a message"
    PEER_FLAG = "peer_flag", "Flag raised by staff"
    SURVEY = "survey", "Survey answer"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


UNRESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Resolution(models.TextChoices):
    SAFE = "safe", "Person contacted and safe"
    SUPPORT_ARRANGED = "support_arranged", "Crisis support arranged"
    EMERGENCY = "emergency", "Emergency services involved"
    FALSE_POSITIVE = "false_positive", "Not a risk (false alarm)"
    UNREACHABLE = "unreachable", "Could not reach the person"
    OTHER = "other", "Other"


class RiskAlert(models.Model):
    """About one person: an enrolment, or (when the text came from a number that matched
    nobody) an SMS intake entry."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    programme = models.ForeignKey(
        "programmes.Programme", null=True, on_delete=models.CASCADE, related_name="+"
    )
    enrolment = models.ForeignKey(
        "programmes.Enrolment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="risk_alerts",
    )
    intake = models.ForeignKey(
        "messaging.SmsIntake", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    categories = models.JSONField(default=list)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    # Escalation: the level last texted (0: none yet) and when the next step is due (None: no
    # further step, or acknowledged).
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    last_crisis_reply_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_escalation_at"]),
            models.Index(fields=["programme", "status", "opened_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment"],
                condition=Q(status__in=["open", "acknowledged"], enrolment__isnull=False),
                name="one_unresolved_alert_per_enrolment",
            ),
            models.UniqueConstraint(
                fields=["intake"],
                condition=Q(status__in=["open", "acknowledged"], intake__isnull=False),
                name="one_unresolved_alert_per_intake",
            ),
            models.CheckConstraint(
                condition=(Q(enrolment__isnull=False) & Q(intake__isnull=True))
                | (Q(enrolment__isnull=True) & Q(intake__isnull=False)),
                name="alert_about_one_person",
            ),
        ]

    def __str__(self) -> str:
        return f"Risk alert {self.id} ({self.status})"


class RiskSignal(models.Model):
    alert = models.ForeignKey(RiskAlert, on_delete=models.CASCADE, related_name="signals")
    source = models.CharField(max_length=16, choices=SignalSource.choices)
    # The natural key: "message:<id>", "flag:<message id>:<user id>", "survey:<...>".
    source_key = models.CharField(max_length=120, unique=True)
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    severity = models.CharField(max_length=8, choices=Severity.choices)
    categories = models.JSONField(default=list)
    # Which lexicon entries matched (ids): what the evaluation and reviews need, without text.
    matched_entries = models.JSONField(default=list)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Risk signal {self.id} ({self.source})"


class AlertEventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    SIGNAL = "signal", "Another signal joined the alert"
    NOTIFIED = "notified", "Staff notified in real time"
    CRISIS_REPLY = "crisis_reply", "Crisis resources sent to the person"
    CRISIS_REPLY_HELD = "crisis_reply_held", "Crisis resources not sent (sent recently)"
    CRISIS_REPLY_BLOCKED = "crisis_reply_blocked", "Crisis resources not sent (no SMS consent)"
    ESCALATED = "escalated", "Escalated by SMS"
    ESCALATION_UNREACHABLE = "escalation_unreachable", "Nobody on call could be texted"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    NOTE = "note", "Note added"
    RESOLVED = "resolved", "Resolved"


class RiskAlertEvent(models.Model):
    """The alert's own timeline, for the people handling it (the audit log is the tamper-
    evident record of the same steps)."""

    alert = models.ForeignKey(RiskAlert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=AlertEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Ids, codes and counts only (who was texted, at which level).
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Alert event {self.kind} of {self.alert_id}"


class RiskAlertNote(models.Model):
    """Encrypted under the person's data key (an intake entry's own key for unknown numbers)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    alert = models.ForeignKey(RiskAlert, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body_ciphertext = models.BinaryField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Alert note {self.id}"
