"""Supervision and reflective practice for peer supporters, fidelity to the model, and the
training that qualifies them (DESIGN.md §1: outcomes can only be interpreted when what was
delivered, and by whom, was recorded).

Writes go through `supervision.services` (validation, encryption, audit); the models hold data
and simple derived values only.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from encryption.models import DataKey
from programmes.models import Programme

MAX_SESSION_MINUTES = 480
MAX_SCALE = 10


class SessionKind(models.TextChoices):
    INDIVIDUAL = "individual", "Individual supervision"
    GROUP = "group", "Group supervision"
    PEER_LED = "peer_led", "Peer-led reflective practice"


class SupervisionSession(models.Model):
    """One supervision or reflective-practice session. Its notes are ciphertext under the
    session's own data key, bound to this row and field, so that they can be shredded alone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="supervision_sessions"
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="supervision_sessions_led"
    )
    held_on = models.DateField()
    kind = models.CharField(max_length=16, choices=SessionKind.choices)
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SESSION_MINUTES)]
    )
    peer_supporters = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="supervision_sessions_attended"
    )
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    notes_ciphertext = models.BinaryField()
    # The recording client's own id for this session: a retried POST finds the first row.
    client_id = models.CharField(max_length=80)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "supervisor", "client_id"],
                name="unique_supervision_session_client_id",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=1, duration_minutes__lte=MAX_SESSION_MINUTES),
                name="supervision_session_duration_range",
            ),
        ]
        indexes = [models.Index(fields=["programme", "held_on"])]

    def __str__(self) -> str:
        return f"Supervision session {self.id}"


class FidelityChecklist(models.Model):
    """A programme's fidelity checklist, versioned: once a check has used a version, that
    version's items never change, so past scores keep the meaning they were given."""

    programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="fidelity_checklists"
    )
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "name", "version"], name="unique_checklist_version"
            ),
            models.UniqueConstraint(
                fields=["programme", "name"],
                condition=Q(active=True),
                name="one_active_checklist_version",
            ),
        ]
        ordering = ["programme_id", "name", "-version"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_used(self) -> bool:
        return self.checks.exists()

    @property
    def max_total(self) -> int:
        return sum(item.scale_max for item in self.items.all())


class FidelityItem(models.Model):
    checklist = models.ForeignKey(FidelityChecklist, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    key = models.SlugField(max_length=50)
    text = models.CharField(max_length=500)
    # Scores run from 0 to scale_max (e.g. 0..2: not done, partly, fully).
    scale_max = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SCALE)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["checklist", "key"], name="unique_fidelity_item_key"),
            models.UniqueConstraint(
                fields=["checklist", "position"], name="unique_fidelity_item_position"
            ),
            models.CheckConstraint(
                condition=Q(scale_max__gte=1, scale_max__lte=MAX_SCALE),
                name="fidelity_item_scale_range",
            ),
        ]
        ordering = ["checklist_id", "position"]

    def __str__(self) -> str:
        return f"{self.checklist_id}/{self.key}"


class FidelityCheck(models.Model):
    """How closely one peer supporter's practice followed the model, as scored by the
    session's supervisor against one checklist version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(
        SupervisionSession, on_delete=models.CASCADE, related_name="fidelity_checks"
    )
    peer_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fidelity_checks"
    )
    checklist = models.ForeignKey(
        FidelityChecklist, on_delete=models.PROTECT, related_name="checks"
    )
    total = models.PositiveIntegerField()
    max_total = models.PositiveIntegerField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "peer_supporter", "checklist"], name="one_fidelity_check"
            ),
            models.CheckConstraint(
                condition=Q(total__lte=models.F("max_total")), name="fidelity_total_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Fidelity check {self.id}"

    @property
    def percentage(self) -> float:
        return round(100 * self.total / self.max_total, 1) if self.max_total else 0.0


class FidelityScore(models.Model):
    check_record = models.ForeignKey(FidelityCheck, on_delete=models.CASCADE, related_name="scores")
    # PROTECT: an item that has been scored can't be deleted from under its scores.
    item = models.ForeignKey(FidelityItem, on_delete=models.PROTECT, related_name="scores")
    score = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["check_record", "item"], name="one_score_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.item_id}={self.score}"


class TrainingRecord(models.Model):
    """A course a peer supporter or supervisor completed, and until when it certifies them.
    Renewal is a new record (a later completion), so the history stays."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_records"
    )
    programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="training_records"
    )
    course_code = models.CharField(max_length=40)
    course_title = models.CharField(max_length=200)
    completed_on = models.DateField()
    certified_until = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "programme", "course_code", "completed_on"],
                name="unique_training_completion",
            ),
            models.CheckConstraint(
                condition=Q(certified_until__isnull=True)
                | Q(certified_until__gt=models.F("completed_on")),
                name="certified_after_completion",
            ),
        ]
        indexes = [models.Index(fields=["programme", "certified_until"])]

    def __str__(self) -> str:
        return f"Training record {self.id}"
