"""Risk alerts' Prometheus metrics (health/metrics.py: codes as labels, never ids). Imported
by `RiskConfig.ready`. Counts only: which people have alerts is for the alert queue, which
audits who looks."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily, Metric

from health.metrics import ScrapeCollector, register_collector


class RiskAlertCollector(ScrapeCollector):
    """`peerlink_risk_alerts_open` and `peerlink_risk_alerts_unacknowledged`, from one query
    over the unresolved alerts (few, and found by the index that leads with status)."""

    error_label = "risk_alerts"

    def _open(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "peerlink_risk_alerts_open",
            "Risk alerts not yet resolved (open or acknowledged), at scrape time.",
        )

    def _unacknowledged(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "peerlink_risk_alerts_unacknowledged",
            "Risk alerts nobody has acknowledged yet, at scrape time.",
        )

    def families(self) -> list[Metric]:
        return [self._open(), self._unacknowledged()]

    def read(self) -> Iterable[Metric]:
        # Imported here: models must not be imported before the app registry is ready.
        from messaging.risk.models import UNRESOLVED, AlertStatus, RiskAlert

        counts = RiskAlert.objects.filter(status__in=UNRESOLVED).aggregate(
            unresolved=Count("pk"),
            unacknowledged=Count("pk", filter=Q(status=AlertStatus.OPEN)),
        )
        unresolved, unacknowledged = self._open(), self._unacknowledged()
        unresolved.add_metric([], counts["unresolved"] or 0)
        unacknowledged.add_metric([], counts["unacknowledged"] or 0)
        return [unresolved, unacknowledged]


RISK_ALERTS = register_collector(RiskAlertCollector())
