"""Messaging's Prometheus metrics (see health/metrics.py for the rules: codes as labels,
never ids or personal data). Imported by `MessagingConfig.ready`, so that the outbox gauges
are on `/metrics` in every web process from the start."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from health.metrics import REGISTRY, ScrapeCollector, register_collector
from messaging.models import MessageChannel, OutboxStatus, SenderRole, SmsOutbox

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

INBOUND, OUTBOUND = "in", "out"
MESSAGES = Counter(
    "peerlink_messages",
    "Messages stored in conversations, by channel (web, sms, automated, system) and direction "
    "(in: written by the person; out: by staff, the scheduler or the system). Counted once "
    "each, after commit; a resend with a known client id or MessageSid is not counted.",
    ["channel", "direction"],
    registry=REGISTRY,
)
# Every series from the start, at zero: a rate over a series that appears mid-way misses
# its first increments.
for _channel in MessageChannel.values:
    for _direction in (INBOUND, OUTBOUND):
        MESSAGES.labels(channel=_channel, direction=_direction)

SMS_DELIVERY_SECONDS = Histogram(
    "peerlink_sms_delivery_seconds",
    "Time from handing an SMS to the provider to its first `delivered` status callback.",
    # Carriers usually report within seconds; a phone that is off reports when it comes back.
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600),
    registry=REGISTRY,
)

WEBSOCKET_CONNECTIONS = Gauge(
    "peerlink_websocket_connections",
    "WebSockets open in this process (accepted and not yet closed).",
    registry=REGISTRY,
    # Under prometheus_client's multiprocess mode: the sum over the live processes.
    multiprocess_mode="livesum",
)


def direction_of(sender_role: str) -> str:
    return INBOUND if sender_role == SenderRole.PARTICIPANT else OUTBOUND


def count_messages_on_commit(messages: Iterable[tuple[str, str]]) -> None:
    """Count newly inserted messages, given as (channel, sender role), once the caller's
    transaction commits: a rolled-back insert (a lost lock, a failed batch) stored nothing."""
    counts: dict[tuple[str, str], int] = {}
    for channel, sender_role in messages:
        key = (channel, direction_of(sender_role))
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return

    def count() -> None:
        for (channel, direction), total in counts.items():
            MESSAGES.labels(channel=channel, direction=direction).inc(total)

    transaction.on_commit(count)


def observe_delivery_on_commit(*, sent_at: dt.datetime | None, reported_at: dt.datetime) -> None:
    """A status callback moved a row to delivered: observe the time since the hand-over, once
    the move commits. A row without a hand-over time (a send adopted from its callback) has
    nothing to measure from."""
    if sent_at is None:
        return
    seconds = max((reported_at - sent_at).total_seconds(), 0.0)
    transaction.on_commit(lambda: SMS_DELIVERY_SECONDS.observe(seconds))


class WebsocketCount:
    """One socket's share of `peerlink_websocket_connections`: counted at most once, and
    uncounted at most once however many ways the socket ends (a close, an error, a cancelled
    task), so the gauge never drifts or goes negative."""

    def __init__(self) -> None:
        self.counted = False

    def opened(self) -> None:
        if not self.counted:
            self.counted = True
            WEBSOCKET_CONNECTIONS.inc()

    def closed(self) -> None:
        if self.counted:
            self.counted = False
            WEBSOCKET_CONNECTIONS.dec()


# The statuses of a row that has not reached the provider yet: `pending` (a first attempt or
# a retry waiting for its time) and `sending` (claimed; stuck here when a worker died, until
# the sweeper claims it again).
WAITING_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class OutboxCollector(ScrapeCollector):
    """`peerlink_sms_outbox_backlog{status}` and `peerlink_sms_outbox_oldest_seconds`: texts
    waiting to be sent, and how long the oldest of them has waited. One grouped query on the
    (status, created_at) index."""

    error_label = "sms_outbox"

    def _backlog(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "peerlink_sms_outbox_backlog",
            "SMS outbox rows not yet handed to the provider, by status (pending: waiting for "
            "an attempt or a retry; sending: claimed by a worker), at scrape time.",
            labels=["status"],
        )

    def _oldest(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "peerlink_sms_outbox_oldest_seconds",
            "Age of the oldest SMS outbox row not yet handed to the provider (0 when none).",
        )

    def families(self) -> list[Metric]:
        return [self._backlog(), self._oldest()]

    def read(self) -> Iterable[Metric]:
        rows = (
            SmsOutbox.objects.filter(status__in=WAITING_STATUSES)
            .order_by()
            .values("status")
            .annotate(total=Count("pk"), oldest=Min("created_at"))
        )
        now = timezone.now()
        counts: dict[str, int] = {}
        oldest: dt.datetime | None = None
        for row in rows:
            counts[str(row["status"])] = int(row["total"])
            if oldest is None or row["oldest"] < oldest:
                oldest = row["oldest"]
        backlog = self._backlog()
        for status in WAITING_STATUSES:
            backlog.add_metric([status.value], counts.get(status, 0))
        age = self._oldest()
        age.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        return [backlog, age]


OUTBOX = register_collector(OutboxCollector())
