"""The survey web form (outside /api/: a page for people, not a JSON endpoint)."""

from __future__ import annotations

from django.urls import URLPattern, path

from outcomes.views import SurveyFormView

urlpatterns: list[URLPattern] = [
    path("<str:token>/", SurveyFormView.as_view(), name="survey-form"),
]
