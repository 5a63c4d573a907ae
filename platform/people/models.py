"""People: everyone who signs in (staff and service users) and service users' encrypted profile."""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q

from encryption.models import DataKey


class User(AbstractUser):
    """Anyone who signs in. A service user's name and phone live encrypted on `Participant`;
    their `username` is a random handle and their password is unusable (they sign in by SMS code).
    """

    @property
    def is_participant(self) -> bool:
        return hasattr(self, "participant")


class Channel(models.TextChoices):
    WEB = "web", "Web chat"
    SMS = "sms", "SMS"


class Participant(models.Model):
    """A service user. Name and phone number are ciphertext under the person's data key."""

    ENCRYPTED_FIELDS = ("name", "phone")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="participant")
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    name_ciphertext = models.BinaryField()
    phone_ciphertext = models.BinaryField()
    phone_index = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=16, default="en")
    time_zone = models.CharField(max_length=64)
    preferred_channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.SMS)
    quiet_hours_start = models.TimeField(default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0))
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        # Never the name: __str__ ends up in logs, admin breadcrumbs and error pages.
        return f"Participant {self.id}"


class ConsentKind(models.TextChoices):
    SMS = "sms", "Receive SMS"
    RESEARCH = "research", "Research use of data"


class ConsentSource(models.TextChoices):
    STAFF = "staff", "Recorded by staff"
    SMS = "sms", "SMS keyword"
    WEB = "web", "Web"
    PROVIDER = "provider", "SMS provider (the number opted out with the carrier)"


class ConsentRecord(models.Model):
    """One grant of consent, versioned and timestamped; withdrawal closes it, never deletes it."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="consents")
    programme = models.ForeignKey(
        "programmes.Programme", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=ConsentKind.choices)
    version = models.CharField(max_length=32)
    granted_at = models.DateTimeField()
    granted_source = models.CharField(max_length=8, choices=ConsentSource.choices)
    recorded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_source = models.CharField(max_length=8, choices=ConsentSource.choices, blank=True)

    class Meta:
        constraints = [
            # Two constraints, since SQLite can't treat NULL programmes as equal in one.
            models.UniqueConstraint(
                fields=["participant", "programme", "kind"],
                condition=Q(withdrawn_at__isnull=True, programme__isnull=False),
                name="one_active_programme_consent_per_kind",
            ),
            models.UniqueConstraint(
                fields=["participant", "kind"],
                condition=Q(withdrawn_at__isnull=True, programme__isnull=True),
                name="one_active_general_consent_per_kind",
            ),
        ]
        indexes = [models.Index(fields=["participant", "kind", "granted_at"])]

    def __str__(self) -> str:
        return f"{self.kind} consent v{self.version} of {self.participant_id}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None
