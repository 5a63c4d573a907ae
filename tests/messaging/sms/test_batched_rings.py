"""Batched rings (messaging/sms/outbox.py): the dispatcher collects a batch's SMS doorbells
and starts them on leaving the batch, a few sends per task (messaging.deliver_sms_many),
rather than publishing one task per text."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from messaging.models import Conversation, MessageChannel, OutboxStatus, SenderRole, SmsOutbox
from messaging.services import post_message
from messaging.sms.outbox import RING_CHUNK, batched_rings
from messaging.tasks import deliver_sms_many
from tests.support.factories import World

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

    results = deliver_sms_many([first.pk, missing, second.pk, first.pk])

    assert results == ["sent", "missing", "sent", "already-handled"]
    assert [sms.body for sms in fake_twilio.sent] == ["Fictional one.", "Fictional two."]
