"""Short-lived credentials: SMS sign-in codes for service users and WebSocket tickets."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from people.models import Participant


class LoginCode(models.Model):
    """A single-use sign-in code sent by SMS. Only its keyed hash is stored."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["participant", "created_at"])]

    def __str__(self) -> str:
        return f"LoginCode {self.id}"


class WsTicket(models.Model):
    """A single-use, short-lived WebSocket ticket. Only its hash is stored."""

    ticket_hash = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"WsTicket for {self.user_id}"
