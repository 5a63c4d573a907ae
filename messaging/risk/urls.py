"""Risk alerts under /api/v1/. Each route needs a row in tests/platform/access/matrix_risk.py."""

from __future__ import annotations

from django.urls import path

from messaging.risk import api

urlpatterns = [
    path("risk-alerts/", api.AlertListView.as_view(), name="risk-alert-list"),
    path("risk-alerts/<uuid:alert_id>/", api.AlertDetailView.as_view(), name="risk-alert-detail"),
    path(
        "risk-alerts/<uuid:alert_id>/acknowledge/",
        api.AcknowledgeView.as_view(),
        name="risk-alert-acknowledge",
    ),
    path(
        "risk-alerts/<uuid:alert_id>/resolve/",
        api.ResolveView.as_view(),
        name="risk-alert-resolve",
    ),
    path(
        "risk-alerts/<uuid:alert_id>/notes/", api.AlertNoteView.as_view(), name="risk-alert-notes"
    ),
]
