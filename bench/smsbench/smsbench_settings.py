"""Settings for the inbound SMS benchmark's server: the production profile, unchanged
(PostgreSQL, Redis cache and channel layer with encrypted payloads, Twilio signature checks,
fail-closed key checks), with one difference: the URLconf adds the bare baseline view at
`bench/bare/` (bench/smsbench/smsbench_urls.py). `peerlink.settings.production` itself never
routes it.

Everything production reads still comes from the environment, which bench/sms_inbound.py sets.
"""

from __future__ import annotations

from peerlink.settings.production import *  # noqa: F403

PEERLINK_ENV = "bench"
ROOT_URLCONF = "smsbench_urls"
