"""Availability under /api/v1/. Each route needs a row in its role matrix file
(tests/platform/access/matrix_staffing.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from staffing import api

urlpatterns: list[URLPattern] = [
    path("me/availability/", api.OwnAvailabilityView.as_view(), name="me-availability"),
    path("me/leave/", api.OwnLeaveView.as_view(), name="me-leave"),
    path("me/leave/<int:leave_id>/", api.OwnLeaveDetailView.as_view(), name="me-leave-detail"),
    path("me/contact/", api.OwnContactView.as_view(), name="me-contact"),
    path("programmes/<slug:slug>/on-call/", api.OnCallRotaView.as_view(), name="programme-on-call"),
]
