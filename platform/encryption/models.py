from __future__ import annotations

import uuid

from django.db import models


class DataKeyPurpose(models.TextChoices):
    PERSON = "person", "Person profile fields"
    CONVERSATION = "conversation", "Conversation messages and notes"
    PROGRAMME = "programme", "Programme secrets"
    INTAKE = "intake", "A text from a number no conversation could take"


class DataKey(models.Model):
    """A random AES-256 data key, stored only wrapped by a versioned key-encryption key.

    Wiping `wrapped_key` (crypto-shredding) makes everything it encrypted unreadable for good.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=16, choices=DataKeyPurpose.choices)
    kek_version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kek_version"])]

    def __str__(self) -> str:
        return f"DataKey {self.id} ({self.purpose}, v{self.kek_version})"

    @property
    def is_destroyed(self) -> bool:
        return self.wrapped_key is None
