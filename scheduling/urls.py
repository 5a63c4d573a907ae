"""Scheduled texts under /api/v1/. Each route needs a row in its role matrix file
(tests/platform/access/matrix_scheduling.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from scheduling import api

urlpatterns: list[URLPattern] = [
    path("me/texts/", api.OwnTextsView.as_view(), name="me-texts"),
    path("me/preferences/", api.OwnPreferencesView.as_view(), name="me-preferences"),
    path(
        "enrolments/<uuid:enrolment_id>/texts/",
        api.EnrolmentTextsView.as_view(),
        name="enrolment-texts",
    ),
    path(
        "enrolments/<uuid:enrolment_id>/texts/pause/",
        api.PauseTextsView.as_view(),
        name="enrolment-texts-pause",
    ),
    path(
        "enrolments/<uuid:enrolment_id>/texts/resume/",
        api.ResumeTextsView.as_view(),
        name="enrolment-texts-resume",
    ),
    path(
        "enrolments/<uuid:enrolment_id>/reminders/",
        api.ReminderListView.as_view(),
        name="enrolment-reminders",
    ),
    path("reminders/<int:reminder_id>/", api.ReminderDetailView.as_view(), name="reminder-detail"),
    path(
        "enrolments/<uuid:enrolment_id>/preferences/",
        api.EnrolmentPreferencesView.as_view(),
        name="enrolment-preferences",
    ),
]
