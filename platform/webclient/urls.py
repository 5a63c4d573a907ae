"""The reference web client's pages (docs/webclient.md)."""

from __future__ import annotations

from django.urls import path

from webclient import views

urlpatterns = [
    path("", views.home, name="webclient-home"),
    path("signin/", views.signin, name="webclient-signin"),
    path("staff/signin/", views.staff_signin, name="webclient-staff-signin"),
    path("chat/", views.chat, name="webclient-chat"),
    path("inbox/", views.inbox, name="webclient-inbox"),
    path("supervisor/", views.supervisor, name="webclient-supervisor"),
]
