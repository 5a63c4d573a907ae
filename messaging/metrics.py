"""Messaging's Prometheus metrics (see health/metrics.py for the rules: codes as labels,
never ids or personal data)."""

from __future__ import annotations

from prometheus_client import Counter

from health.metrics import REGISTRY

SMS_INBOUND = Counter(
    "peerlink_sms_inbound",
    "Inbound SMS webhooks, by outcome (message, opted_out, help, unknown_sender, duplicate, "
    "forbidden, invalid, rate_limited, ...).",
    ["outcome"],
    registry=REGISTRY,
)
SMS_SENDS = Counter(
    "peerlink_sms_send_attempts",
    "Outbox send attempts, by result (sent, retry, failed, skipped, opted-out, ...).",
    ["result"],
    registry=REGISTRY,
)
SMS_STATUS_CALLBACKS = Counter(
    "peerlink_sms_status_callbacks",
    "Delivery status callbacks, by result (moved, unchanged, unknown, ignored, forbidden, "
    "invalid).",
    ["result"],
    registry=REGISTRY,
)
