"""Supervision records under /api/v1/supervision/. Each route needs a row in the role matrix
(tests/platform/access/matrix_supervision.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from supervision import api

urlpatterns: list[URLPattern] = [
    path("sessions/", api.SessionListView.as_view(), name="supervision-session-list"),
    path(
        "sessions/<uuid:session_id>/",
        api.SessionDetailView.as_view(),
        name="supervision-session-detail",
    ),
    path(
        "sessions/<uuid:session_id>/fidelity/",
        api.SessionFidelityView.as_view(),
        name="supervision-session-fidelity",
    ),
    path("checklists/", api.ChecklistListView.as_view(), name="supervision-checklist-list"),
    path("training/", api.TrainingListView.as_view(), name="supervision-training-list"),
]
