"""Settings for the scheduler benchmark's worker: the production profile, unchanged
(PostgreSQL through the psycopg pool, Redis channel layer with encrypted payloads, the Celery
broker on Redis, Twilio as the SMS backend, fail-closed key checks). The Twilio library's HTTP
client is the zero-latency fake of tests/support/fake_twilio.py (`TWILIO_HTTP_CLIENT`, as the
chat benchmark sets it).

Everything production reads still comes from the environment, which bench/scheduler.py sets.
"""

from __future__ import annotations

from peerlink.settings.production import *  # noqa: F403

PEERLINK_ENV = "bench"
