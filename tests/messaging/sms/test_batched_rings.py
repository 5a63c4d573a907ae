"""Batched rings (messaging/sms/outbox.py): the dispatcher collects a batch's SMS doorbells
and starts them on leaving the batch, a few sends per task (messaging.deliver_sms_many),
rather than publishing one task per text."""

from __future__ import annotations

import threading
import uuid
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import Conversation, MessageChannel, OutboxStatus, SenderRole, SmsOutbox
from messaging.services import post_message
from messaging.sms.outbox import RING_CHUNK, batched_rings
from messaging.tasks import deliver_sms_many
from tests.conftest import using_postgres
from tests.support.factories import World, make_world

pytestmark = pytest.mark.django_db


def _post(world: World, body: str) -> SmsOutbox:
    """The peer supporter writes to world.own, who reads by SMS."""
    message = post_message(
        conversation_id=Conversation.objects.get(enrolment=world.own).pk,
        sender=world.peer,
        sender_role=SenderRole.PEER_SUPPORTER,
        channel=MessageChannel.WEB,
        body=body,
        client_id=uuid.uuid4().hex,
    ).message
    return SmsOutbox.objects.get(message=message)


def test_rings_in_a_batch_start_their_sends_only_on_leaving_it(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    bodies = [f"Fictional reply {n}." for n in range(RING_CHUNK + 3)]
    with batched_rings():
        with django_capture_on_commit_callbacks(execute=True):
            for body in bodies:
                _post(world, body)
        assert fake_twilio.sent == []  # committed, rung, not yet started

    assert sorted(sms.body for sms in fake_twilio.sent) == sorted(bodies)
    assert set(SmsOutbox.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


def test_a_nested_batch_joins_the_outer_one(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with batched_rings():
        with batched_rings(), django_capture_on_commit_callbacks(execute=True):
            _post(world, "Fictional reply.")
        assert fake_twilio.sent == []

    assert [sms.body for sms in fake_twilio.sent] == ["Fictional reply."]


def test_a_ring_outside_a_batch_starts_its_send_at_once(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _post(world, "Fictional reply.")

    assert [sms.body for sms in fake_twilio.sent] == ["Fictional reply."]


def test_a_chunk_sends_each_row_once_and_reports_each(world: World, fake_twilio: Any) -> None:
    first, second = _post(world, "Fictional one."), _post(world, "Fictional two.")
    missing = second.pk + 1000

    results = deliver_sms_many([first.pk, missing, second.pk])

    assert results == ["sent", "missing", "sent"]
    assert [sms.body for sms in fake_twilio.sent] == ["Fictional one.", "Fictional two."]
    stored = SmsOutbox.objects.filter(pk__in=[first.pk, second.pk])
    assert {(o.status, o.provider_message_id) for o in stored} == {
        (OutboxStatus.SENT, sms.sid) for sms in fake_twilio.sent
    }


def test_a_redelivered_chunk_sends_nothing_more(world: World, fake_twilio: Any) -> None:
    ids = [_post(world, f"Fictional {n}.").pk for n in range(3)]
    deliver_sms_many(ids)

    assert deliver_sms_many(ids) == ["already-handled"] * 3
    assert len(fake_twilio.sent) == 3


def test_a_chunk_settles_each_row_by_its_own_state(world: World, fake_twilio: Any) -> None:
    fine, expired, out_of_attempts = (_post(world, f"Fictional {n}.") for n in range(3))
    SmsOutbox.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    SmsOutbox.objects.filter(pk=out_of_attempts.pk).update(attempts=99)

    results = deliver_sms_many([out_of_attempts.pk, fine.pk, expired.pk])

    assert results == ["failed", "sent", "expired"]
    assert [sms.body for sms in fake_twilio.sent] == ["Fictional 0."]
    assert SmsOutbox.objects.get(pk=expired.pk).status == OutboxStatus.EXPIRED


@pytest.mark.postgres
@pytest.mark.skipif(not using_postgres(), reason="row locks: PEERLINK_TEST_DB=postgres")
@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_left_busy_and_the_rest_are_sent(
    fake_twilio: Any,
) -> None:
    world = make_world()
    with mock.patch("messaging.sms.outbox.ring_outbox"):  # queued, not yet rung
        held, free = _post(world, "Fictional held."), _post(world, "Fictional free.")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            SmsOutbox.objects.select_for_update().get(pk=held.pk)
            locked.set()
            release.wait(timeout=30)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        results = deliver_sms_many([held.pk, free.pk])
    finally:
        release.set()
        holder.join()

    assert results == ["busy", "sent"]
    assert [sms.body for sms in fake_twilio.sent] == ["Fictional free."]
    assert SmsOutbox.objects.get(pk=held.pk).status == OutboxStatus.PENDING
