"""Surveys' Prometheus metrics (health/metrics.py: codes as labels, never ids). Imported by
`OutcomesConfig.ready`. Completion by arm, timepoint and instrument is the survey-metrics
API's business (it needs roles: arms are concealed from some staff); this is the service-wide
count only."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from health.metrics import ScrapeCollector, register_collector


class SurveySessionCollector(ScrapeCollector):
    """`peerlink_survey_sessions{state}`: survey sessions by state. Every state is reported,
    zero included, so the series never disappear (completion is completed over the rest)."""

    error_label = "survey_sessions"

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "peerlink_survey_sessions",
            "Survey sessions in all programmes, by state (planned, invited, in_progress, "
            "paused, completed, expired, stopped), at scrape time.",
            labels=["state"],
        )

    def families(self) -> list[Metric]:
        return [self._family()]

    def read(self) -> Iterable[Metric]:
        # Imported here: models must not be imported before the app registry is ready.
        from outcomes.models import SessionState, SurveySession

        rows = SurveySession.objects.order_by().values("state").annotate(total=Count("pk"))
        counts: dict[str, int] = {str(row["state"]): int(row["total"]) for row in rows}
        family = self._family()
        for state in sorted(set(SessionState.values) | set(counts)):
            family.add_metric([state], counts.get(state, 0))
        return [family]


SURVEY_SESSIONS = register_collector(SurveySessionCollector())
