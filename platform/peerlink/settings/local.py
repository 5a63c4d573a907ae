"""`make run`: one process, SQLite, in-memory channel layer, tasks in process, console SMS.

The embedded keys below are for the demo only; production refuses to start without its own.
"""

from __future__ import annotations

from peerlink.settings.base import *  # noqa: F403
from peerlink.settings.base import (
    PEERLINK_EXPORT_KEYS,
    PEERLINK_INDEX_KEY,
    PEERLINK_KEYRING,
    STATIC_ROOT,
    TWILIO_AUTH_TOKEN,
    VAR_DIR,
)

DEBUG = True
SECRET_KEY = "local-development-only-not-secret"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# Dev-only key material, so that `make run` works from a fresh clone.
PEERLINK_KEYRING = PEERLINK_KEYRING or "1:ZGV2LW9ubHkta2V5LWVuY3J5cHRpb24ta2V5LTAwMDE="
PEERLINK_INDEX_KEY = PEERLINK_INDEX_KEY or "ZGV2LW9ubHktYmxpbmQtaW5kZXgta2V5LTAwMDAwMDE="
PEERLINK_EXPORT_KEYS = PEERLINK_EXPORT_KEYS or "demo:ZGV2LW9ubHktZXhwb3J0LWtleS1kZW1vLXN0dWR5LTAx"

# Signs and checks the webhooks of `manage.py simulate_sms` in the demo; the console backend
# never calls Twilio.
TWILIO_AUTH_TOKEN = TWILIO_AUTH_TOKEN or "local-development-twilio-token"

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://localhost/"
# The beat schedule runs in the server process (peerlink/local_beat.py): retries, escalations.
LOCAL_BEAT = True

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

VAR_DIR.mkdir(parents=True, exist_ok=True)

# The web client's files straight from the source tree (no collectstatic before `make run`).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
