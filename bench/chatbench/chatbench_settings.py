"""Settings for the chat benchmark's server: the production profile, unchanged (PostgreSQL,
Redis channel layer with encrypted payloads, Redis cache, fail-closed key checks), plus the
bench-only relay route (`PEERLINK_BENCH_RELAY`), which production itself never serves.

Everything production reads still comes from the environment, which bench/chat.py sets.
"""

from __future__ import annotations

import os

from peerlink.settings import production
from peerlink.settings.production import *  # noqa: F403

PEERLINK_ENV = "bench"
PEERLINK_BENCH_RELAY = os.environ.get("PEERLINK_BENCH_RELAY", "").lower() in {"1", "true", "yes"}

# `bench/chat.py --layer pubsub`: the same hosts and payload encryption on channels_redis's
# pub/sub layer (at-most-once, like the layer the design already assumes), for comparison.
if os.environ.get("PEERLINK_BENCH_LAYER") == "pubsub":
    _config = production.CHANNEL_LAYERS["default"]["CONFIG"]
    # A new dict: production's own is left as it is.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": _config["hosts"],
                "symmetric_encryption_keys": _config["symmetric_encryption_keys"],
            },
        }
    }
