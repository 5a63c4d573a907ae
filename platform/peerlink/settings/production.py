"""Production: PostgreSQL, Redis channel layer (encrypted payloads), Celery + one beat, Twilio.

Every value comes from the environment (README, "Configuration"). Missing key material is
refused at start-up with a message naming the variable to set.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from peerlink.settings.base import *  # noqa: F403
from peerlink.settings.base import (
    ALLOWED_HOSTS,
    DATABASES,
    LOGGING,
    PEERLINK_INDEX_KEY,
    PEERLINK_KEYRING,
    REDIS_URL,
)

DEBUG = False

# One JSON object per log line unless LOG_FORMAT says otherwise.
if os.environ.get("LOG_FORMAT", "json") == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production (see README, Configuration).")
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY")
_required("DJANGO_ALLOWED_HOSTS")
# Probes and Prometheus call a pod by its address (Kubernetes gives it as POD_IP through the
# downward API, deploy/k8s), not by the public host name.
if os.environ.get("POD_IP"):
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, os.environ["POD_IP"]]
_required("DATABASE_URL")
_required("REDIS_URL")
_required("PEERLINK_PUBLIC_URL")
# A connection pool per process (psycopg_pool), not persistent connections: under ASGI
# Django keeps connections per request context, so CONN_MAX_AGE left one open connection
# behind every request until PostgreSQL refused more (docs/performance.md, inbound SMS).
# Opening a connection per message cost 16% of the chat path; the pool hands one out instead.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # a dead pooled connection is replaced
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": int(os.environ.get("DATABASE_POOL_MIN_SIZE", "2")),
    "max_size": int(os.environ.get("DATABASE_POOL_MAX_SIZE", "20")),
    "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "10")),
}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")

# Fail closed on key material: validate the format now, not at the first message.
from encryption.keyring import validate_configuration  # noqa: E402

validate_configuration(keyring=PEERLINK_KEYRING, index_key=PEERLINK_INDEX_KEY)

_redis_hosts = [h.strip() for h in os.environ.get("CHANNEL_REDIS_URLS", REDIS_URL).split(",")]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # Several hosts shard the layer; payloads are encrypted with the symmetric keys.
            # socket_timeout None: redis-py 8 defaults to 5 s, the same as channels_redis's
            # blocking pop, which drops idle sockets (django/channels_redis#422). A larger pool:
            # hundreds of sockets make more concurrent layer calls than the default allows.
            "hosts": [
                {
                    "address": h,
                    "socket_timeout": None,
                    "max_connections": int(os.environ.get("CHANNEL_REDIS_MAX_CONNECTIONS", "1000")),
                }
                for h in _redis_hosts
                if h
            ],
            "symmetric_encryption_keys": [_required("CHANNEL_LAYER_ENCRYPTION_KEY")],
            "capacity": 1500,
            "expiry": 30,
        },
    }
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}

# Twilio, always: the console backend would write every text (and sign-in code) to the log
# stream and mark it sent. Webhooks are refused without the token that verifies their
# signatures; sending needs the account and the Messaging Service too.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "messaging.sms.TwilioSmsBackend")
if SMS_BACKEND != "messaging.sms.TwilioSmsBackend":
    raise ImproperlyConfigured("SMS_BACKEND must be messaging.sms.TwilioSmsBackend in production.")
TWILIO_AUTH_TOKEN = _required("TWILIO_AUTH_TOKEN")
TWILIO_ACCOUNT_SID = _required("TWILIO_ACCOUNT_SID")
TWILIO_MESSAGING_SERVICE_SID = _required("TWILIO_MESSAGING_SERVICE_SID")

WS_ALLOWED_ORIGIN_SCHEMES = ["https"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "1") == "1"
# Probes call the pod over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
