"""Settings for the chat benchmark's server: the production profile, unchanged (PostgreSQL,
Redis channel layer with encrypted payloads, Redis cache, fail-closed key checks), plus the
bench-only relay route (`PEERLINK_BENCH_RELAY`), which production itself never serves.

Everything production reads still comes from the environment, which bench/chat.py sets.
"""

from __future__ import annotations

import os

from peerlink.settings.production import *  # noqa: F403

PEERLINK_ENV = "bench"
PEERLINK_BENCH_RELAY = os.environ.get("PEERLINK_BENCH_RELAY", "").lower() in {"1", "true", "yes"}

# Work-arounds, flagged to the settings' owner; both are redis-py >= 8 behaviour that
# channels_redis 4.3 does not expect, and neither changes the cost of a message:
# - default socket timeout 5 s: a channel layer host given as a bare URL makes channels_redis's
#   5 s blocking pop time out on an idle process, which kills every consumer waiting on the
#   layer (sockets drop after 5 s of silence). A read timeout above 5 s keeps them alive.
# - connection pools capped at 100 that fail at once when exhausted (MaxConnectionsError): with
#   hundreds of sockets, concurrent group_add/group_send calls exceed 100 and kill consumers.
_layer = CHANNEL_LAYERS["default"]  # noqa: F405  (from production; not mutated in place)
CHANNEL_LAYERS = {
    "default": {
        **_layer,
        "CONFIG": {
            **_layer["CONFIG"],
            "hosts": [
                {"address": host, "socket_timeout": 15, "max_connections": 10_000}
                if isinstance(host, str)
                else host
                for host in _layer["CONFIG"]["hosts"]
            ],
        },
    }
}

# `bench/chat.py --layer pubsub`: the same hosts and payload encryption on channels_redis's
# pub/sub layer (at-most-once, like the layer the design already assumes), for comparison.
if os.environ.get("PEERLINK_BENCH_LAYER") == "pubsub":
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": CHANNEL_LAYERS["default"]["CONFIG"]["hosts"],
            "symmetric_encryption_keys": CHANNEL_LAYERS["default"]["CONFIG"][
                "symmetric_encryption_keys"
            ],
        },
    }
