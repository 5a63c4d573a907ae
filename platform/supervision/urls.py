"""Supervision records under /api/v1/supervision/. Each route needs a row in the role matrix
(tests/platform/access/matrix_supervision.py)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
