"""Scheduled texts' Prometheus metrics (health/metrics.py: codes as labels, never ids).
Imported by `SchedulingConfig.ready`, so that the due-lag gauge is on `/metrics` from the
start."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db.models import Min
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from health.metrics import REGISTRY, ScrapeCollector, register_collector

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


class DueLagCollector(ScrapeCollector):
    """`peerlink_scheduled_sends_due_lag_seconds`: how far behind the dispatcher is. One
    query, answered from the first entry of the partial index the dispatcher claims by
    (`pending_send_due`: scheduled rows by due time)."""

    error_label = "scheduled_sends_due"

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "peerlink_scheduled_sends_due_lag_seconds",
            "How long the oldest scheduled text that is due has waited past its due time, at "
            "scrape time (0 when none is due).",
        )

    def families(self) -> list[Metric]:
        return [self._family()]

    def read(self) -> Iterable[Metric]:
        # Imported here: models must not be imported before the app registry is ready.
        from scheduling.models import PendingSend, SendState

        now = timezone.now()
        oldest = PendingSend.objects.filter(state=SendState.SCHEDULED, due_at__lte=now).aggregate(
            oldest=Min("due_at")
        )["oldest"]
        family = self._family()
        family.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        return [family]


DUE_LAG = register_collector(DueLagCollector())
