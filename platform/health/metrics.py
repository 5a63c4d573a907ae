"""Prometheus metrics for the whole project, served at `/metrics` (DESIGN.md §4, Health).

`REGISTRY` is the project's own registry, not prometheus_client's global one, so that
`/metrics` shows exactly what the project declares (plus the standard process metrics) and
nothing a third-party import happened to register. Apps extend it in one of two ways:

- a metric updated as things happen: declare it with ``registry=REGISTRY``, e.g.
  ``Counter("peerlink_sms_sent", "...", ["outcome"], registry=REGISTRY)``;
- a value read from the database when Prometheus scrapes: subclass `ScrapeCollector` (its
  `describe()` runs no query, and a failed query is counted, not raised) and pass an instance
  to `register_collector`, in a module the app's `AppConfig.ready` imports.

Rules for every metric: the name starts with ``peerlink_``; labels hold small fixed sets of
codes (status, outcome, check), never ids, names, phone numbers, message text or anything else
that identifies a person or grows without bound.

Each process keeps its own counters: run one ASGI server process per container (or set up
prometheus_client's multiprocess mode) so that a scrape sees the whole of one process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

# The standard process_*, python_gc_* and python_info metrics (the default collectors are
# stateless readers of this process, so sharing them with the global registry is fine).
for _standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_standard)

READY_CHECKS = Counter(
    "peerlink_http_ready_checks",
    "Readiness checks run by /readyz, by check and outcome (ok or failed).",
    ["check", "outcome"],
    registry=REGISTRY,
)
READY_CHECK_SECONDS = Histogram(
    "peerlink_http_ready_check_duration_seconds",
    "Time taken by each readiness check of /readyz.",
    ["check"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
COLLECTOR_ERRORS = Counter(
    "peerlink_metrics_collector_errors",
    "Scrape-time collectors that could not read their value (the metric is left out).",
    ["collector"],
    registry=REGISTRY,
)


class ScrapeCollector(Collector):
    """A value read from the database when Prometheus scrapes, with one cheap query.

    A subclass names its `error_label` and writes `families()` (its metric families, empty)
    and `read()` (the same families with their values). `describe()` returns the empty
    families, so registering runs no query. A database error leaves the collector's metrics
    out of that scrape, counts it in `peerlink_metrics_collector_errors{collector=...}` and
    logs the exception's class name only (its message can quote connection details)."""

    error_label: str

    def __init__(self) -> None:
        # The error series exists from the start, at zero.
        COLLECTOR_ERRORS.labels(collector=self.error_label)

    def families(self) -> list[Metric]:
        raise NotImplementedError

    def read(self) -> Iterable[Metric]:
        raise NotImplementedError

    def describe(self) -> Iterable[Metric]:
        return self.families()

    def collect(self) -> Iterator[Metric]:
        try:
            # Read in full here: a lazy query would raise after the try has been left.
            metrics = list(self.read())
        except DatabaseError as exc:
            logger.warning("%s gauge not collected: %s", self.error_label, type(exc).__name__)
            COLLECTOR_ERRORS.labels(collector=self.error_label).inc()
            return
        yield from metrics


class EnrolmentCollector(ScrapeCollector):
    """`peerlink_participants_enrolled{status=...}`: enrolments by status, counted at scrape
    time. Every known status is reported, zero included, so the series never disappear."""

    name = "peerlink_participants_enrolled"
    documentation = "Enrolments in all programmes, by enrolment status, at scrape time."
    error_label = "enrolments"

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=["status"])

    def families(self) -> list[Metric]:
        return [self._family()]

    def read(self) -> Iterable[Metric]:
        # Imported here: this module is imported while URLs load, and models must not be
        # imported before the app registry is ready.
        from programmes.models import Enrolment, EnrolmentStatus

        rows = Enrolment.objects.order_by().values("status").annotate(total=Count("pk"))
        counts: dict[str, int] = {str(row["status"]): int(row["total"]) for row in rows}
        family = self._family()
        for status in sorted(set(EnrolmentStatus.values) | set(counts)):
            family.add_metric([status], counts.get(status, 0))
        return [family]


def register_collector(collector: Collector) -> Collector:
    """Add a scrape-time collector to `/metrics`. Returns it, for use as a decorator-like call."""
    REGISTRY.register(collector)
    return collector


ENROLMENTS = register_collector(EnrolmentCollector())


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and the content type to serve it with."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
