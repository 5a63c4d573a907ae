"""Outcome instruments (DESIGN.md §3, data flow 5). An instrument version is data: its
definition is stored as imported, and never changes once stored, so that every answer ever
given to it keeps its meaning."""

from __future__ import annotations

from django.db import models


class Instrument(models.Model):
    """One version of a questionnaire (outcomes/instrument_format.py parses `definition`)."""

    slug = models.SlugField(max_length=40)
    version = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    languages = models.JSONField()
    licence = models.TextField(blank=True)
    citation = models.TextField(blank=True)
    definition = models.JSONField()
    # sha256 of the canonical definition: a re-import of the same content is a no-op, a
    # different one under the same version is refused.
    content_hash = models.CharField(max_length=64)
    built_in = models.BooleanField(default=False)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="one_instrument_version"),
        ]
        ordering = ["slug", "version"]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"
