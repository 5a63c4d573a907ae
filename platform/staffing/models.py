"""Staff availability (DESIGN.md §1: no out-of-hours pressure on peer supporters): leave, the
supervisors' on-call rota, and the phone number escalations are texted to.

Working hours live on `programmes.PeerSupporterProfile` (with the capacity they go with)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from encryption.models import DataKey


class Leave(models.Model):
    """Time off: the staff member is off duty for all of it, whatever their working hours."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leaves"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="leave_has_length"
            ),
            # Recording the same leave twice (a retried request) changes nothing.
            models.UniqueConstraint(fields=["user", "starts_at", "ends_at"], name="unique_leave"),
        ]

    def __str__(self) -> str:
        return f"Leave {self.id} of {self.user_id}"


class OnCallShift(models.Model):
    """A supervisor on duty for a programme. Level 1 is the first to be texted when an alert
    waits unacknowledged, level 2 the next, and so on (DESIGN.md §3, data flow 6)."""

    programme = models.ForeignKey(
        "programmes.Programme", on_delete=models.CASCADE, related_name="on_call_shifts"
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="on_call_shifts"
    )
    level = models.PositiveSmallIntegerField(default=1)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["programme", "ends_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="shift_has_length"
            ),
            models.CheckConstraint(condition=Q(level__gte=1), name="shift_level_from_one"),
            models.UniqueConstraint(
                fields=["programme", "supervisor", "level", "starts_at"], name="unique_shift"
            ),
        ]

    def __str__(self) -> str:
        return f"On call L{self.level} {self.supervisor_id} in {self.programme_id}"


class StaffContact(models.Model):
    """A staff member's mobile number for escalation texts, encrypted under their own data key
    like a participant's (DESIGN.md §5)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_contact"
    )
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    phone_ciphertext = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Staff contact of {self.user_id}"


class OffDutyCover(models.Model):
    """A conversation whose person wrote while their peer supporter was off duty: it shows
    to the programme's on-duty supervisors (and they may read it, audited) until the peer
    supporter is back and answers. Off-duty peer supporters get no notifications."""

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    peer_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    since = models.DateTimeField()
    # When the person was told when to expect an answer (None: a recent reply already did).
    away_reply_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(ended_at__isnull=True),
                name="one_open_cover_per_conversation",
            )
        ]
        indexes = [models.Index(fields=["ended_at", "since"])]

    def __str__(self) -> str:
        return f"Off-duty cover of {self.conversation_id}"
