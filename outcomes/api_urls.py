"""Survey and export endpoints under /api/v1/. Each route needs a row in its role matrix file
(tests/platform/access/matrix_outcomes.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from outcomes import api

urlpatterns: list[URLPattern] = [
    path(
        "programmes/<slug:slug>/survey-metrics/",
        api.CompletionMetricsView.as_view(),
        name="programme-survey-metrics",
    ),
    path(
        "enrolments/<uuid:enrolment_id>/surveys/",
        api.EnrolmentSurveysView.as_view(),
        name="enrolment-surveys",
    ),
    path(
        "survey-sessions/<uuid:session_id>/web-link/",
        api.SurveyWebLinkView.as_view(),
        name="survey-session-web-link",
    ),
    path(
        "programmes/<slug:slug>/exports/",
        api.ProgrammeExportsView.as_view(),
        name="programme-exports",
    ),
    path("exports/<uuid:job_id>/", api.ExportJobView.as_view(), name="export-job"),
    path(
        "exports/<uuid:job_id>/download/",
        api.ExportDownloadView.as_view(),
        name="export-download",
    ),
]
