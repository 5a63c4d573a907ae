"""The Celery application. Workers and the single beat run `celery -A peerlink ...`."""

from __future__ import annotations

from celery import Celery

from peerlink.env import use_profile_settings

use_profile_settings()

app = Celery("peerlink")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
