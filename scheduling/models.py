"""Supportive text programmes (DESIGN.md §3, data flow 4): message libraries first.

A library holds short texts by track (general, depression, ...), category (supportive,
reminder) and language, in order. Only approved messages (approver and approval date set)
are ever sent: a programme approves its own clinical content."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class MessageCategory(models.TextChoices):
    SUPPORTIVE = "supportive", "Supportive text"
    REMINDER = "reminder", "Reminder (appointments, medication)"


class MessageLibrary(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    # Shipped samples, written for peerlink: to be replaced by clinically approved content.
    is_sample = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "message libraries"

    def __str__(self) -> str:
        return self.name


class LibraryMessage(models.Model):
    """One text, kept by its key within the library: a re-import updates it in place."""

    library = models.ForeignKey(MessageLibrary, on_delete=models.CASCADE, related_name="messages")
    key = models.SlugField(max_length=80)
    track = models.SlugField(max_length=40)
    category = models.CharField(max_length=16, choices=MessageCategory.choices)
    language = models.CharField(max_length=16)
    position = models.PositiveIntegerField()
    text = models.TextField(max_length=1600)
    author = models.CharField(max_length=200)
    approver = models.CharField(max_length=200, blank=True)
    approved_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["library", "key"], name="unique_library_message_key"),
            models.UniqueConstraint(
                fields=["library", "track", "category", "language", "position"],
                name="unique_library_message_position",
            ),
            # Approved means both who and when.
            models.CheckConstraint(
                condition=Q(approver="", approved_on__isnull=True)
                | (~Q(approver="") & Q(approved_on__isnull=False)),
                name="library_message_approval_complete",
            ),
        ]
        indexes = [models.Index(fields=["library", "track", "category", "language", "position"])]
        ordering = ["library", "track", "category", "language", "position"]

    def __str__(self) -> str:
        return f"{self.library_id}/{self.key}"

    @property
    def is_approved(self) -> bool:
        return bool(self.approver) and self.approved_on is not None
