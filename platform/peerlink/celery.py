"""The Celery application. Workers and the single beat run `celery -A peerlink ...`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerlink.settings.local")

app = Celery("peerlink")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
