"""Scheduled texts' Prometheus metrics (health/metrics.py: codes as labels, never ids)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

from health.metrics import REGISTRY

SCHEDULED_SENDS = Counter(
    "peerlink_scheduled_sends",
    "Scheduled texts handled by the dispatcher, by outcome (sent, stale, quiet_hours, "
    "alert_pause, enrolment_paused, stopped:<reason>, failed).",
    ["outcome"],
    registry=REGISTRY,
)


def record_dispatch(outcomes: Mapping[str, int]) -> None:
    for outcome, count in outcomes.items():
        SCHEDULED_SENDS.labels(outcome=outcome).inc(count)
