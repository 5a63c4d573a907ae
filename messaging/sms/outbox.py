"""Queueing an SMS: the outbox row in the caller's transaction, the task after commit; and
the check that keeps automatic replies from being queued too often."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging.models import SmsOutbox
from peerlink.batching import Collector
from people.models import Participant

logger = logging.getLogger(__name__)


def queue_sms(**fields: Any) -> SmsOutbox:
    """Write an outbox row (inside the caller's transaction) and ring for it after commit."""
    (outbox,) = queue_sms_rows([SmsOutbox(**fields)])
    return outbox


def queue_sms_rows(rows: list[SmsOutbox]) -> list[SmsOutbox]:
    """`queue_sms` for many unsaved rows, in one insert."""
    SmsOutbox.objects.bulk_create(rows)
    for outbox in rows:
        after_commit_ring(outbox.pk)
    return rows


def queued_recently(
    *,
    purpose: str,
    seconds: float,
    participant: Participant | None = None,
    phone_index: str = "",
) -> bool:
    """Whether a text of this purpose went to this person, or to this number (as a person or
    an intake entry), in the last `seconds`: the automatic replies' rate limits, so that two
    auto-responders can't text each other forever."""
    if participant is None and not phone_index:
        raise ValueError("name a participant or a phone index")
    to = Q(participant=participant) if participant is not None else Q()
    if phone_index:
        to |= Q(intake__phone_index=phone_index) | Q(participant__phone_index=phone_index)
    since = timezone.now() - dt.timedelta(seconds=seconds)
    return SmsOutbox.objects.filter(to, purpose=purpose, created_at__gte=since).exists()


def after_commit_ring(outbox_id: int) -> None:
    """Ring for a row after commit, for callers that order their doorbells themselves."""
    transaction.on_commit(lambda: ring_outbox(outbox_id))


# Sends per task when rings are batched: few enough that M workers share a batch's sends,
# enough that the dispatcher publishes a handful of tasks per batch, not one per text.
RING_CHUNK = 20


def batched_rings() -> contextlib.AbstractContextManager[None]:
    """Rings inside are collected and, on leaving, started as tasks of up to RING_CHUNK sends
    each: publishing a task costs a Redis round trip, about as much as the dispatcher's own
    work for a text (docs/performance.md). Enter it outside `events.batched()`, so that the
    messages' doorbells ring before their sends start. Nested use joins the outer batch."""
    return _rings.batch()


def ring_outbox(outbox_id: int) -> None:
    """Start the send task. The broker is a doorbell: if it can't be reached the row stays
    pending and the sweeper rings again, so the caller's request must not fail for it."""
    if not _rings.add(outbox_id):
        _start_sends([outbox_id])


def _start_chunks(ids: list[int]) -> None:
    failure: Exception | None = None
    for start in range(0, len(ids), RING_CHUNK):
        try:
            _start_sends(ids[start : start + RING_CHUNK])
        except Exception as exc:
            # In process only (see _start_sends): the other chunks still go.
            failure = failure or exc
    if failure is not None:
        raise failure


_rings: Collector[int] = Collector(_start_chunks)


def _start_sends(outbox_ids: list[int]) -> None:
    from messaging.tasks import deliver_sms, deliver_sms_many

    try:
        if len(outbox_ids) == 1:
            deliver_sms.delay(outbox_ids[0])
        else:
            deliver_sms_many.delay(outbox_ids)
    except Exception as exc:
        if getattr(deliver_sms.app.conf, "task_always_eager", False):
            raise  # in process (tests, local): the send itself failed; let it show
        logger.warning("sms task not queued (the sweeper will retry): %s", type(exc).__name__)
