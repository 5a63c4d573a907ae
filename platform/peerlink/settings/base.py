"""Settings shared by every profile. Everything deployable comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext

# Lets `admin.ModelAdmin[Model]` and other generic annotations work at run time.
django_stubs_ext.monkeypatch()

REPO_ROOT = Path(__file__).resolve().parents[3]
VAR_DIR = Path(os.environ.get("PEERLINK_VAR_DIR", REPO_ROOT / "var"))

PEERLINK_ENV = os.environ.get("PEERLINK_ENV", "local")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS: list[str] = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "encryption",
    "audit",
    "people",
    "programmes",
    "access",
    "health",
    "staffing",
    "supervision",
    "messaging",
    "messaging.risk",
    "scheduling",
    "outcomes",
    "webclient",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The web client's script and styles, from the ASGI server itself: no separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "peerlink.urls"
ASGI_APPLICATION = "peerlink.asgi.application"
WSGI_APPLICATION = "peerlink.wsgi.application"
AUTH_USER_MODEL = "people.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'peerlink.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Writers take the lock at BEGIN and queue, instead of failing with "database is locked"
    # when two transactions both try to upgrade a read lock.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("PEERLINK_STATIC_ROOT", VAR_DIR / "static"))

REDIS_URL = os.environ.get("REDIS_URL", "")

# Request bodies: chat messages are at most 4,000 characters; nothing legitimate is large.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.DenyAll"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "peerlink.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": "20/min",
        "login_username": "10/min",
        "sms_code_ip": "10/min",
        "sms_code_phone": "5/hour",
        "ws_ticket": "60/min",
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Rate limits key on the client address: trust X-Forwarded-For only from this many proxies
    # (0: use the socket's address, so a client can't choose its own rate-limit key).
    "NUM_PROXIES": int(os.environ.get("PEERLINK_NUM_PROXIES", "0")),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "peerlink API",
    "DESCRIPTION": "Peer support backend: programmes, participants, caseloads, chat, SMS.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Two choice sets share the field name "kind": each its own component name.
    "ENUM_NAME_OVERRIDES": {"SupervisionSessionKindEnum": "supervision.models.SessionKind"},
}

# Celery: the broker is a doorbell; every task is idempotent and re-reads the database.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://localhost/")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Production and test run no in-process beat (one `celery beat` process does it).
LOCAL_BEAT = False
CELERY_BEAT_SCHEDULE = {
    # The outbox's safety net: retries that are due, and rows whose task was lost.
    "sweep-sms-outbox": {"task": "messaging.sweep_sms_outbox", "schedule": 15.0},
    # Unacknowledged risk alerts, texted to the on-call supervisor at the configured minute.
    "escalate-risk-alerts": {"task": "risk.escalate_alerts", "schedule": 15.0},
    # The caseload waiting queue goes to peer supporters as they come on duty.
    "assign-waiting": {"task": "programmes.assign_waiting", "schedule": 60.0},
    # Scheduled supportive texts and reminders that are due (scheduling/dispatch.py).
    # A tick still queued after a minute is dropped: the next one does its work.
    "dispatch-due-texts": {
        "task": "scheduling.dispatch_due",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    # Survey invitations, reminders and expiries that are due (outcomes/dispatch.py).
    "dispatch-due-surveys": {
        "task": "outcomes.dispatch_surveys",
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
    # Export jobs whose worker was lost, and zips nobody downloaded (outcomes/export/jobs.py).
    "sweep-export-jobs": {"task": "outcomes.sweep_export_jobs", "schedule": 900.0},
}

SMS_BACKEND = os.environ.get("SMS_BACKEND", "messaging.sms.ConsoleSmsBackend")
PEERLINK_PUBLIC_URL = os.environ.get("PEERLINK_PUBLIC_URL", "http://127.0.0.1:8000")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "")
# The twilio library's HTTP client (a dotted path to a class). Empty: its own requests-based
# client. Tests and benchmarks name the fake Twilio of tests/support/fake_twilio.py here.
TWILIO_HTTP_CLIENT = os.environ.get("TWILIO_HTTP_CLIENT", "")
TWILIO_TIMEOUT_SECONDS = float(os.environ.get("TWILIO_TIMEOUT_SECONDS", "10"))

# The SMS outbox: attempts with exponential backoff on temporary errors (timeouts, 5xx, 429),
# a lease on rows being sent, and the sweeper that rings again for rows whose doorbell (the
# Celery task) was lost.
SMS_SEND_MAX_ATTEMPTS = int(os.environ.get("PEERLINK_SMS_SEND_MAX_ATTEMPTS", "8"))
SMS_RETRY_BASE_SECONDS = float(os.environ.get("PEERLINK_SMS_RETRY_BASE_SECONDS", "30"))
SMS_RETRY_MAX_SECONDS = float(os.environ.get("PEERLINK_SMS_RETRY_MAX_SECONDS", "3600"))
# How long a row being sent is its worker's: longer than any one call to Twilio can take
# (TWILIO_TIMEOUT_SECONDS), or a slow send would be sent again.
SMS_SENDING_LEASE_SECONDS = float(os.environ.get("PEERLINK_SMS_SENDING_LEASE_SECONDS", "300"))
# After an answer that leaves open whether Twilio took the text (no answer, a 5xx), wait at
# least this long: its status callback, which names the outbox row, adopts a text that went.
SMS_AMBIGUOUS_RETRY_SECONDS = float(os.environ.get("PEERLINK_SMS_AMBIGUOUS_RETRY_SECONDS", "120"))
SMS_SWEEP_GRACE_SECONDS = float(os.environ.get("PEERLINK_SMS_SWEEP_GRACE_SECONDS", "60"))
# Inbound: texts per number per minute beyond which a webhook is refused (429, nothing
# stored); how often HELP is answered; the replies to numbers no conversation can take.
# Well above what anyone types (a long text arriving in parts counts once per part), so that
# a person in distress is never cut off; a loop between machines is far faster.
SMS_INBOUND_PER_NUMBER_PER_MINUTE = int(os.environ.get("PEERLINK_SMS_INBOUND_PER_MINUTE", "120"))
SMS_HELP_REPLY_INTERVAL_SECONDS = 120
SMS_INTAKE_REPLY_INTERVAL_SECONDS = 24 * 3600
SMS_UNKNOWN_SENDER_REPLY = os.environ.get(
    "PEERLINK_SMS_UNKNOWN_SENDER_REPLY",
    "Thank you for your message. We could not match this number to anyone we support, so it "
    "may not be read soon.",
)
SMS_NO_CONVERSATION_REPLY = os.environ.get(
    "PEERLINK_SMS_NO_CONVERSATION_REPLY",
    "Thank you for your message. Texts to this number are not read by a peer supporter.",
)
SMS_HELP_FALLBACK = os.environ.get(
    "PEERLINK_SMS_HELP_TEXT",
    "This is a peer support service. If you are in danger or thinking of harming yourself, "
    "call your local emergency number now. Text STOP to stop texts, START to restart them.",
)

# Key material (DESIGN.md §5). Parsed and validated by encryption.keyring.
PEERLINK_KEYRING = os.environ.get("PEERLINK_KEYRING", "")
PEERLINK_INDEX_KEY = os.environ.get("PEERLINK_INDEX_KEY", "")
# Per-study keys of the evaluator export's pseudonymous ids, "slug:base64key,...": never in
# the database (outcomes/export/keys.py).
PEERLINK_EXPORT_KEYS = os.environ.get("PEERLINK_EXPORT_KEYS", "")
# Where the API's export jobs keep their zip until its one download (outcomes/export/jobs.py).
PEERLINK_EXPORT_DIR = Path(os.environ.get("PEERLINK_EXPORT_DIR", VAR_DIR / "exports"))

# Sign-in codes for service users (sent by SMS).
LOGIN_CODE_TTL_SECONDS = 600
LOGIN_CODE_MAX_ATTEMPTS = 5
WS_TICKET_TTL_SECONDS = 60
# Pages whose session cookie may open a WebSocket: our hosts, over these schemes.
WS_ALLOWED_ORIGIN_SCHEMES = ["http", "https"]
# Frames one socket may send: a steady rate and a burst (DESIGN.md §5).
WS_FRAMES_PER_SECOND = float(os.environ.get("PEERLINK_WS_FRAMES_PER_SECOND", "10"))
WS_FRAME_BURST = int(os.environ.get("PEERLINK_WS_FRAME_BURST", "30"))

# Default region for phone numbers entered without a country code.
PHONE_DEFAULT_REGION = os.environ.get("PEERLINK_PHONE_REGION", "CA")

CSRF_FAILURE_VIEW = "peerlink.errors.csrf_failure"
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# LOG_FORMAT=json: one JSON object per line (production's default), for log collectors.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django logs the request path on errors; our URLs never carry personal data.
        "django.request": {"level": "WARNING"},
        # The twilio library logs each API request (URL, headers) at INFO.
        "twilio": {"level": "WARNING"},
    },
}
