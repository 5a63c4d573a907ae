"""Availability under /api/v1/. Each route needs a row in its role matrix file
(tests/platform/access/matrix_staffing.py)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
