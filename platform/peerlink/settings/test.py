"""The test profile: SQLite by default; the suite's fixtures point it at real PostgreSQL and
Redis servers that they start themselves (see tests/support/services.py)."""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
from pathlib import Path

from peerlink.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-not-secret"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}

PEERLINK_KEYRING = "1:" + base64.b64encode(b"t" * 32).decode()
PEERLINK_INDEX_KEY = base64.b64encode(b"i" * 32).decode()
PEERLINK_EXPORT_KEYS = ",".join(
    f"{slug}:{base64.b64encode(slug.encode() * 32).decode()}" for slug in ("demo", "trial")
)
# One folder per process: pytest-xdist workers never see each other's export zips.
PEERLINK_EXPORT_DIR = Path(tempfile.mkdtemp(prefix="peerlink-exports-"))
atexit.register(shutil.rmtree, PEERLINK_EXPORT_DIR, ignore_errors=True)

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://localhost/"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The real twilio library on the fake Twilio HTTP API of tests/support/fake_twilio.py.
SMS_BACKEND = "messaging.sms.TwilioSmsBackend"
TWILIO_HTTP_CLIENT = "tests.support.fake_twilio.FakeTwilioHttpClient"
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "test-twilio-auth-token"  # noqa: S105
TWILIO_MESSAGING_SERVICE_SID = "MG" + "0" * 32
PEERLINK_PUBLIC_URL = "https://peerlink.test"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Throttles are exercised by their own tests, which lower these on purpose.
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405

# The web client's files from the source tree, as `make run` serves them (WhiteNoise wants a
# STATIC_ROOT that exists, even if empty).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="peerlink-static-"))
