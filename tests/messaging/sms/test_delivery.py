"""SMS out (DESIGN.md §3, data flow 3; messaging/sms/delivery.py, messaging/tasks.py): the
outbox row is claimed, handed to Twilio through the real twilio library (on the fake Twilio of
tests/support/fake_twilio.py), and recorded; temporary failures back off and retry, permanent
ones fail at once, 21610 opts the person out, a lease protects a send in flight, and the
sweeper rings again for everything whose doorbell was lost.

Time is moved by rewriting timestamps in the database, never by sleeping."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError

from audit.models import AuditEntry
from health.metrics import REGISTRY
from messaging.models import (
    Conversation,
    DeliveryStatus,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    OutboxTemplate,
    SenderRole,
    SmsOutbox,
)
from messaging.selectors import message_payload
from messaging.services import post_message
from messaging.sms import delivery
from messaging.sms.backends import send_sms
from messaging.sms.delivery import ClaimedSend, claim, send_outbox
from messaging.sms.outbox import queue_sms
from messaging.sms.selectors import due_outbox_ids
from messaging.tasks import deliver_sms, sweep_sms_outbox
from people.models import ConsentKind, ConsentRecord, ConsentSource
from people.selectors import participant_profile, sms_allowed
from people.services import withdraw_consent
from tests.support.factories import World
from tests.support.fake_twilio import Failure, SentSms
from tests.support.sms import status_callback

pytestmark = pytest.mark.django_db

BODY = "See you at the group on Thursday."
CALLBACK_URL = "https://peerlink.test/sms/twilio/status/?outbox={}"
LEASE = 300  # settings.SMS_SENDING_LEASE_SECONDS
GRACE = 60  # settings.SMS_SWEEP_GRACE_SECONDS


# Helpers.


def _conversation(world: World) -> Conversation:
    return Conversation.objects.get(enrolment=world.own)


def _post(world: World, body: str = BODY, client_id: str | None = None) -> Message:
    """The peer supporter writes to world.own, who reads by SMS."""
    return post_message(
        conversation_id=_conversation(world).pk,
        sender=world.peer,
        sender_role=SenderRole.PEER_SUPPORTER,
        channel=MessageChannel.WEB,
        body=body,
        client_id=client_id or uuid.uuid4().hex,
    ).message


def _waiting(world: World, body: str = BODY) -> SmsOutbox:
    """A message whose outbox row is written but whose task has not run (the commit's
    callbacks are not executed), so that the test drives each step itself."""
    return SmsOutbox.objects.get(message=_post(world, body))


def _sent(world: World, capture: Any, body: str = BODY) -> SmsOutbox:
    """A message posted and its task run after commit, as in production."""
    with capture(execute=True):
        message = _post(world, body)
    return SmsOutbox.objects.get(message=message)


def _reload(outbox: SmsOutbox) -> SmsOutbox:
    return SmsOutbox.objects.get(pk=outbox.pk)


def _set(outbox: SmsOutbox, **fields: Any) -> None:
    SmsOutbox.objects.filter(pk=outbox.pk).update(**fields)


def _ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def _phone(world: World) -> str:
    return participant_profile(world.own.participant).phone


def _fail_once_and_time(fake_twilio: Any, outbox: SmsOutbox, failure: Failure) -> tuple[Any, ...]:
    """One attempt that meets `failure`: (result, row after, earliest and latest 'now')."""
    fake_twilio.fail_next(failure)
    before = timezone.now()
    result = send_outbox(outbox_id=outbox.pk)
    after = timezone.now()
    return result, _reload(outbox), before, after


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


# Sending.


def test_a_peer_message_to_an_sms_reader_reaches_twilio_once_as_written(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _sent(world, django_capture_on_commit_callbacks)
    assert fake_twilio.requests == 1
    assert len(fake_twilio.sent) == 1
    assert fake_twilio.sent[0] == SentSms(
        sid=fake_twilio.sent[0].sid,
        to=_phone(world),
        body=BODY,
        messaging_service_sid="MG" + "0" * 32,
        status_callback=CALLBACK_URL.format(outbox.pk),
    )
    assert fake_twilio.sent[0].messaging_service_sid == settings.TWILIO_MESSAGING_SERVICE_SID


def test_a_sent_row_records_the_message_sid_and_twilios_queued_status(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _sent(world, django_capture_on_commit_callbacks)
    assert outbox.provider_message_id == fake_twilio.sent[0].sid
    assert (outbox.status, outbox.delivery_status) == (OutboxStatus.SENT, DeliveryStatus.QUEUED)
    assert outbox.attempts == 1
    assert outbox.sent_at is not None
    assert (outbox.next_attempt_at, outbox.error_code) == (None, None)


@pytest.mark.parametrize(
    ("body", "segments", "encoding"),
    [
        ("a" * 160, 1, "gsm7"),
        ("a" * 161, 2, "gsm7"),
        ("a" * 306, 2, "gsm7"),  # two parts of 153
        ("a" * 307, 3, "gsm7"),
        ("Take care of yourself tonight 🙂", 1, "ucs2"),
        ("a" * 69 + "🙂", 2, "ucs2"),  # 71 UTF-16 units: over 70, so parts of 67
    ],
)
def test_a_sent_row_records_its_segments_and_encoding(
    world: World,
    django_capture_on_commit_callbacks: Any,
    body: str,
    segments: int,
    encoding: str,
) -> None:
    outbox = _sent(world, django_capture_on_commit_callbacks, body)
    assert (outbox.segments, outbox.encoding) == (segments, encoding)


def test_a_redelivered_task_sends_nothing_more(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _sent(world, django_capture_on_commit_callbacks)
    assert deliver_sms(outbox.pk) == "already-handled"
    assert (fake_twilio.requests, len(fake_twilio.sent)) == (1, 1)
    assert _reload(outbox).attempts == 1


@pytest.mark.parametrize("claimed_seconds_ago", [0, LEASE - 5])
def test_a_row_claimed_by_another_worker_within_its_lease_is_left_alone(
    world: World, fake_twilio: Any, claimed_seconds_ago: int
) -> None:
    outbox = _waiting(world)
    assert isinstance(claim(outbox_id=outbox.pk), ClaimedSend)  # the other worker
    _set(outbox, claimed_at=_ago(claimed_seconds_ago))
    assert deliver_sms(outbox.pk) == "in-flight"
    assert fake_twilio.requests == 0
    row = _reload(outbox)
    assert (row.status, row.attempts) == (OutboxStatus.SENDING, 1)


@pytest.mark.parametrize("claimed_seconds_ago", [LEASE + 5, 24 * 3600])
def test_a_row_whose_lease_ran_out_is_claimed_again_and_sent(
    world: World, fake_twilio: Any, claimed_seconds_ago: int
) -> None:
    outbox = _waiting(world)
    assert isinstance(claim(outbox_id=outbox.pk), ClaimedSend)  # a worker that then died
    _set(outbox, claimed_at=_ago(claimed_seconds_ago))
    assert deliver_sms(outbox.pk) == "sent"
    assert [sms.body for sms in fake_twilio.sent] == [BODY]
    row = _reload(outbox)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


@pytest.mark.django_db(transaction=True)
def test_two_workers_ringing_for_one_row_at_once_send_it_once(
    world: World, fake_twilio: Any
) -> None:
    with mock.patch("messaging.sms.outbox.ring_outbox"):  # commits; no doorbell yet
        outbox = _waiting(world)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=5)
            results.append(deliver_sms(outbox.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) in (["already-handled", "sent"], ["in-flight", "sent"])
    assert [sms.body for sms in fake_twilio.sent] == [BODY]


def test_the_send_task_is_given_the_row_id_only(
    world: World, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real_delay = deliver_sms.delay

    def recording_delay(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return real_delay(*args, **kwargs)

    monkeypatch.setattr(deliver_sms, "delay", recording_delay)
    outbox = _sent(world, django_capture_on_commit_callbacks)
    assert calls == [((outbox.pk,), {})]
    assert type(calls[0][0][0]) is int


def _sends_counted(result: str) -> float:
    return REGISTRY.get_sample_value("peerlink_sms_send_attempts_total", {"result": result}) or 0.0


def test_each_send_task_is_counted_by_its_result(world: World, fake_twilio: Any) -> None:
    before = (_sends_counted("sent"), _sends_counted("retry"))
    fake_twilio.fail_next(Failure(status=500))
    outbox = _waiting(world)
    deliver_sms(outbox.pk)
    deliver_sms(outbox.pk)
    assert (_sends_counted("sent"), _sends_counted("retry")) == (before[0] + 1, before[1] + 1)


def test_a_task_for_a_row_that_no_longer_exists_sends_nothing(
    world: World, fake_twilio: Any
) -> None:
    outbox = _waiting(world)
    SmsOutbox.objects.filter(pk=outbox.pk).delete()
    assert deliver_sms(outbox.pk) == "missing"
    assert fake_twilio.requests == 0


# Temporary failures: retries with backoff.

TEMPORARY_FAILURES = [
    pytest.param(Failure(status=500, code=20500), 20500, id="500"),
    pytest.param(Failure(status=503, code=20503), 20503, id="503"),
    pytest.param(Failure(status=429, code=20429), 20429, id="429"),
    pytest.param(Failure(timeout=True), None, id="timeout"),
]


@pytest.mark.parametrize(("failure", "error_code"), TEMPORARY_FAILURES)
def test_a_temporary_failure_leaves_the_row_pending_with_twilios_error_code(
    world: World, fake_twilio: Any, failure: Failure, error_code: int | None
) -> None:
    result, row, _, _ = _fail_once_and_time(fake_twilio, _waiting(world), failure)
    assert result == "retry"
    assert (row.status, row.delivery_status) == (OutboxStatus.PENDING, DeliveryStatus.PENDING)
    assert row.attempts == 1
    assert row.error_code == error_code
    assert row.provider_message_id == ""
    assert fake_twilio.sent == []


def test_a_first_refusal_for_load_retries_in_30_seconds_give_or_take_a_fifth(
    world: World, fake_twilio: Any
) -> None:
    # 429: Twilio refused the request, so nothing went out; back off 30 s ±20%.
    _, row, before, after = _fail_once_and_time(
        fake_twilio, _waiting(world), Failure(status=429, code=20429)
    )
    assert row.next_attempt_at is not None
    assert before + _seconds(24) <= row.next_attempt_at <= after + _seconds(36)


@pytest.mark.parametrize(
    "failure",
    [Failure(status=500), Failure(status=503, code=20503), Failure(timeout=True)],
    ids=["500", "503", "timeout"],
)
def test_an_answer_that_leaves_open_whether_it_went_waits_for_the_callback_first(
    world: World, fake_twilio: Any, failure: Failure, settings: Any
) -> None:
    # No answer or a 5xx: Twilio may have the text, and its status callback (which names the
    # row) would adopt it. The retry waits SMS_AMBIGUOUS_RETRY_SECONDS (120 s), more than the
    # 30 s ±20% backoff of a first failure.
    _, row, before, after = _fail_once_and_time(fake_twilio, _waiting(world), failure)
    wait = settings.SMS_AMBIGUOUS_RETRY_SECONDS
    assert wait == 120
    assert row.next_attempt_at is not None
    assert before + _seconds(wait) <= row.next_attempt_at <= after + _seconds(wait)


def test_each_further_temporary_failure_waits_twice_as_long(world: World, fake_twilio: Any) -> None:
    outbox = _waiting(world)
    # 30 * 2**(n-1) seconds for the n-th failure; the 8th failure is the last attempt.
    for base in [30, 60, 120, 240, 480, 960, 1920]:
        result, row, before, after = _fail_once_and_time(
            fake_twilio, outbox, Failure(status=429, code=20429)
        )
        assert result == "retry"
        assert row.next_attempt_at is not None
        assert before + _seconds(0.8 * base) <= row.next_attempt_at, base
        assert row.next_attempt_at <= after + _seconds(1.2 * base), base


def test_the_wait_between_attempts_is_capped_at_an_hour(
    world: World, fake_twilio: Any, settings: Any
) -> None:
    settings.SMS_SEND_MAX_ATTEMPTS = 20
    outbox = _waiting(world)
    _set(outbox, attempts=9)  # the 10th attempt: 30 * 2**9 = 15,360 s (±20%), capped at 3,600 s
    _, row, before, after = _fail_once_and_time(fake_twilio, outbox, Failure(status=500))
    assert row.attempts == 10
    assert row.next_attempt_at is not None
    assert before + _seconds(3600) <= row.next_attempt_at <= after + _seconds(3600)


def test_texts_that_fail_together_do_not_retry_at_the_same_moment(
    world: World, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _waiting(world, "First text."), _waiting(world, "Second text.")
    frozen = timezone.now()
    monkeypatch.setattr(delivery.timezone, "now", lambda: frozen)
    fake_twilio.fail_next(Failure(status=429), times=2)
    send_outbox(outbox_id=first.pk)
    send_outbox(outbox_id=second.pk)
    assert _reload(first).next_attempt_at != _reload(second).next_attempt_at


def test_after_the_last_allowed_attempt_fails_the_row_is_failed(
    world: World, fake_twilio: Any
) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=500), times=8)  # SMS_SEND_MAX_ATTEMPTS
    results = [send_outbox(outbox_id=outbox.pk) for _ in range(8)]
    assert results == ["retry"] * 7 + ["failed"]
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.FAILED, DeliveryStatus.FAILED)
    assert (row.attempts, row.next_attempt_at) == (8, None)


def test_a_row_failed_after_its_last_attempt_is_not_attempted_again(
    world: World, fake_twilio: Any
) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=500), times=8)
    for _ in range(8):
        send_outbox(outbox_id=outbox.pk)
    _set(outbox, created_at=_ago(3600))
    assert deliver_sms(outbox.pk) == "already-handled"
    assert sweep_sms_outbox() == 0
    assert fake_twilio.requests == 8
    assert fake_twilio.sent == []


def test_a_provider_returning_500_and_429_for_a_while_loses_nothing_and_doubles_nothing(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    fake_twilio.fail_next(Failure(status=500, code=20500), times=2)
    fake_twilio.fail_next(Failure(status=429, code=20429), times=2)
    outbox = _sent(world, django_capture_on_commit_callbacks)
    assert _reload(outbox).status == OutboxStatus.PENDING
    for _ in range(4):  # the sweeper, each time the retry is due
        _set(outbox, next_attempt_at=_ago(1))
        with django_capture_on_commit_callbacks(execute=True):
            sweep_sms_outbox()
    assert [sms.body for sms in fake_twilio.sent] == [BODY]
    assert fake_twilio.requests == 5
    row = _reload(outbox)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 5)
    assert row.provider_message_id == fake_twilio.sent[0].sid
    assert (row.error_code, row.next_attempt_at) == (None, None)


# Permanent failures.


def test_a_permanent_error_fails_the_row_at_once(world: World, fake_twilio: Any) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=400, code=21211))
    assert send_outbox(outbox_id=outbox.pk) == "failed"
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.FAILED, DeliveryStatus.FAILED)
    assert (row.error_code, row.attempts, row.next_attempt_at) == (21211, 1, None)


def test_a_permanently_failed_row_is_never_retried(world: World, fake_twilio: Any) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=400, code=21211))
    send_outbox(outbox_id=outbox.pk)
    _set(outbox, created_at=_ago(3600))
    assert deliver_sms(outbox.pk) == "already-handled"
    assert due_outbox_ids() == []
    assert fake_twilio.requests == 1


def test_a_permanent_error_does_not_touch_the_persons_consent(
    world: World, fake_twilio: Any
) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=400, code=21211))
    send_outbox(outbox_id=outbox.pk)
    assert sms_allowed(world.own.participant)


# Twilio's 21610: the number opted out with the carrier.


def _opted_out_by_carrier(world: World, fake_twilio: Any) -> tuple[str, SmsOutbox]:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=400, code=21610))
    return send_outbox(outbox_id=outbox.pk), outbox


def test_error_21610_fails_the_row(world: World, fake_twilio: Any) -> None:
    result, outbox = _opted_out_by_carrier(world, fake_twilio)
    assert result == "opted-out"
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.FAILED, DeliveryStatus.FAILED)
    assert row.error_code == 21610


def test_error_21610_withdraws_the_sms_consent_with_source_provider(
    world: World, fake_twilio: Any
) -> None:
    _opted_out_by_carrier(world, fake_twilio)
    consent = ConsentRecord.objects.get(
        participant=world.own.participant, kind=ConsentKind.SMS, programme__isnull=True
    )
    assert consent.withdrawn_at is not None
    assert consent.withdrawn_source == ConsentSource.PROVIDER
    assert not sms_allowed(world.own.participant)


def test_error_21610_tells_the_peer_supporter_in_the_conversation(
    world: World, fake_twilio: Any
) -> None:
    _, outbox = _opted_out_by_carrier(world, fake_twilio)
    notice = Message.objects.get(conversation=_conversation(world), seq=2)
    assert (notice.channel, notice.sender_role, notice.sender_id) == ("system", "system", None)
    assert notice.client_id == f"sms-opt-out:outbox:{outbox.pk}"
    assert message_payload(notice, _conversation(world))["body"] == (
        "SMS is off: the phone company reports that this number has opted out of texts. "
        "Nothing will be texted until the person texts START."
    )


def test_the_carriers_opt_out_notice_is_not_itself_texted(world: World, fake_twilio: Any) -> None:
    _opted_out_by_carrier(world, fake_twilio)
    assert SmsOutbox.objects.count() == 1
    assert fake_twilio.requests == 1


def test_error_21610_is_audited(world: World, fake_twilio: Any) -> None:
    _opted_out_by_carrier(world, fake_twilio)
    entry = AuditEntry.objects.get(action="sms.opted_out")
    assert (entry.target_type, entry.target_id) == (
        "people.participant",
        str(world.own.participant.pk),
    )
    assert entry.details == {"source": "provider"}


def test_error_21610_skips_the_persons_other_waiting_texts(world: World, fake_twilio: Any) -> None:
    first = _waiting(world, "First text.")
    later = _waiting(world, "A later text.")
    retrying = _waiting(world, "A text waiting for its retry.")
    fake_twilio.fail_next(Failure(status=503))
    send_outbox(outbox_id=retrying.pk)
    fake_twilio.fail_next(Failure(status=400, code=21610))
    send_outbox(outbox_id=first.pk)
    for outbox in (later, retrying):
        row = _reload(outbox)
        assert (row.status, row.delivery_status) == (OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT)
        assert row.next_attempt_at is None


def test_after_error_21610_nothing_more_is_texted(world: World, fake_twilio: Any) -> None:
    first, later = _waiting(world, "First text."), _waiting(world, "A later text.")
    fake_twilio.fail_next(Failure(status=400, code=21610))
    send_outbox(outbox_id=first.pk)
    _set(later, created_at=_ago(3600))
    assert sweep_sms_outbox() == 0
    assert deliver_sms(later.pk) == "already-handled"
    assert fake_twilio.requests == 1


def test_error_21610_leaves_other_peoples_texts_alone(world: World, fake_twilio: Any) -> None:
    other = Conversation.objects.get(enrolment=world.others)
    message = post_message(
        conversation_id=other.pk,
        sender=world.other_peer,
        sender_role=SenderRole.PEER_SUPPORTER,
        channel=MessageChannel.WEB,
        body="For someone else.",
        client_id="other-1",
    ).message
    _opted_out_by_carrier(world, fake_twilio)
    assert SmsOutbox.objects.get(message=message).status == OutboxStatus.PENDING
    assert sms_allowed(world.others.participant)


# Consent.


def test_without_sms_consent_the_row_is_skipped_and_nothing_is_sent(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    withdraw_consent(participant=world.own.participant, kind=ConsentKind.SMS, source="staff")
    outbox = _sent(world, django_capture_on_commit_callbacks)
    assert (outbox.status, outbox.delivery_status) == (
        OutboxStatus.SKIPPED,
        DeliveryStatus.NOT_SENT,
    )
    assert outbox.attempts == 0
    assert fake_twilio.requests == 0


def test_consent_withdrawn_while_a_retry_waits_skips_the_retry(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(status=500))
    send_outbox(outbox_id=outbox.pk)
    withdraw_consent(participant=world.own.participant, kind=ConsentKind.SMS, source="staff")
    _set(outbox, next_attempt_at=_ago(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_sms_outbox() == 1
    assert _reload(outbox).status == OutboxStatus.SKIPPED
    assert fake_twilio.requests == 1


def test_a_help_reply_in_the_conversation_is_sent_without_sms_consent(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    withdraw_consent(participant=world.own.participant, kind=ConsentKind.SMS, source="sms")
    with django_capture_on_commit_callbacks(execute=True):
        message = post_message(
            conversation_id=_conversation(world).pk,
            sender=None,
            sender_role=SenderRole.SYSTEM,
            channel=MessageChannel.AUTOMATED,
            body="Call 988.",
            client_id="sms-help:SM" + "1" * 32,
            deliver_by_sms=True,
            sms_purpose=OutboxPurpose.KEYWORD_REPLY,
        ).message
    assert SmsOutbox.objects.get(message=message).status == OutboxStatus.SENT
    assert [(sms.to, sms.body) for sms in fake_twilio.sent] == [(_phone(world), "Call 988.")]


def test_a_help_reply_written_from_the_programme_is_sent_without_sms_consent(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    withdraw_consent(participant=world.own.participant, kind=ConsentKind.SMS, source="sms")
    with django_capture_on_commit_callbacks(execute=True):
        outbox = queue_sms(
            participant=world.own.participant,
            purpose=OutboxPurpose.KEYWORD_REPLY,
            template=OutboxTemplate.HELP,
            programme=world.programme,
            language="en",
        )
    assert _reload(outbox).status == OutboxStatus.SENT
    # The programme of make_programme has no contact text and "Call 988." as its resources.
    assert [(sms.to, sms.body) for sms in fake_twilio.sent] == [(_phone(world), "Call 988.")]


# Ambiguous failures: Twilio may have sent what we could not record.


def test_a_timeout_after_twilio_accepted_the_text_leaves_the_row_pending(
    world: World, fake_twilio: Any
) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(timeout=True, sends=True))
    assert send_outbox(outbox_id=outbox.pk) == "retry"
    assert len(fake_twilio.sent) == 1
    row = _reload(outbox)
    assert (row.status, row.attempts, row.provider_message_id) == (OutboxStatus.PENDING, 1, "")
    assert row.next_attempt_at is not None


def _timed_out_but_sent(world: World, fake_twilio: Any) -> SmsOutbox:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(timeout=True, sends=True))
    send_outbox(outbox_id=outbox.pk)
    return outbox


def test_the_status_callback_of_a_timed_out_send_adopts_its_message_sid(
    world: World, fake_twilio: Any
) -> None:
    outbox = _timed_out_but_sent(world, fake_twilio)
    sent = fake_twilio.sent[0]
    assert sent.status_callback == CALLBACK_URL.format(outbox.pk)
    assert status_callback(Client(), sent, "sent").status_code == 200
    row = _reload(outbox)
    assert (row.status, row.provider_message_id) == (OutboxStatus.SENT, sent.sid)
    assert (row.delivery_status, row.next_attempt_at) == (DeliveryStatus.SENT, None)
    assert row.sent_at is not None


def test_after_the_callback_adopted_a_timed_out_send_the_retry_sends_nothing(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _timed_out_but_sent(world, fake_twilio)
    status_callback(Client(), fake_twilio.sent[0], "queued")
    _set(outbox, next_attempt_at=_ago(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_sms_outbox() == 0
    assert deliver_sms(outbox.pk) == "already-handled"
    assert len(fake_twilio.sent) == 1


def test_a_send_whose_worker_died_after_handing_it_over_is_not_sent_again(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _waiting(world)
    claimed = claim(outbox_id=outbox.pk)
    assert isinstance(claimed, ClaimedSend)
    send_sms(claimed.sms)  # handed over; the worker dies before recording it
    _set(outbox, claimed_at=_ago(LEASE + 5))
    assert status_callback(Client(), fake_twilio.sent[0], "delivered").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_sms_outbox() == 0
    assert len(fake_twilio.sent) == 1
    row = _reload(outbox)
    assert (row.status, row.provider_message_id) == (OutboxStatus.SENT, fake_twilio.sent[0].sid)
    assert row.delivery_status == DeliveryStatus.DELIVERED


def test_a_send_whose_worker_died_before_the_provider_call_is_sent_by_the_sweeper(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _waiting(world)
    assert isinstance(claim(outbox_id=outbox.pk), ClaimedSend)  # and the worker dies
    _set(outbox, claimed_at=_ago(LEASE + 5))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_sms_outbox() == 1
    assert [sms.body for sms in fake_twilio.sent] == [BODY]
    row = _reload(outbox)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


def test_a_row_given_up_on_that_went_out_after_all_is_adopted_by_its_callback(
    world: World, fake_twilio: Any
) -> None:
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(timeout=True), times=7)
    fake_twilio.fail_next(Failure(timeout=True, sends=True))
    for _ in range(8):
        send_outbox(outbox_id=outbox.pk)
    assert _reload(outbox).status == OutboxStatus.FAILED
    status_callback(Client(), fake_twilio.sent[0], "delivered")
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.SENT, DeliveryStatus.DELIVERED)
    assert row.provider_message_id == fake_twilio.sent[0].sid


def test_a_send_that_outlived_its_lease_keeps_the_sid_recorded_first_and_is_logged(
    world: World, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    outbox = _waiting(world)

    def slow_send(sms: Any) -> Any:
        receipt = send_sms(sms)  # accepted, but the answer takes longer than the lease
        _set(outbox, claimed_at=_ago(LEASE + 5))
        monkeypatch.setattr(delivery, "send_sms", send_sms)
        assert deliver_sms(outbox.pk) == "sent"  # meanwhile the row is claimed and sent again
        return receipt

    monkeypatch.setattr(delivery, "send_sms", slow_send)
    caplog.set_level(logging.WARNING, logger="messaging.sms.delivery")
    assert send_outbox(outbox_id=outbox.pk) == "duplicate"
    assert len(fake_twilio.sent) == 2  # the double send this race allows, and logs
    row = _reload(outbox)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    assert row.provider_message_id == fake_twilio.sent[1].sid
    assert "sms sent twice" in caplog.text


def _report_before_the_worker_records(
    fake_twilio: Any, monkeypatch: pytest.MonkeyPatch, status: str, error_code: int | None
) -> None:
    """Twilio's callback overtakes the worker: it arrives after Twilio accepted the text and
    before the worker has stored the MessageSid."""

    def send_then_report(sms: Any) -> Any:
        receipt = send_sms(sms)
        response = status_callback(Client(), fake_twilio.sent[-1], status, error_code=error_code)
        assert response.status_code == 200
        return receipt

    monkeypatch.setattr(delivery, "send_sms", send_then_report)


def test_a_report_that_overtakes_the_worker_is_not_moved_back_by_the_worker(
    world: World, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = _waiting(world)
    _report_before_the_worker_records(fake_twilio, monkeypatch, "delivered", None)
    assert send_outbox(outbox_id=outbox.pk) == "sent"
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.SENT, DeliveryStatus.DELIVERED)
    assert row.provider_message_id == fake_twilio.sent[0].sid
    assert len(fake_twilio.sent) == 1


def test_a_report_that_overtakes_the_worker_keeps_its_error_code(
    world: World, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = _waiting(world)
    _report_before_the_worker_records(fake_twilio, monkeypatch, "undelivered", 30003)
    send_outbox(outbox_id=outbox.pk)
    row = _reload(outbox)
    assert row.delivery_status == DeliveryStatus.UNDELIVERED
    assert row.error_code == 30003


# The sweeper.


def _pending_retry_due(outbox: SmsOutbox) -> None:
    _set(outbox, attempts=1, next_attempt_at=_ago(1), created_at=_ago(120))


def _lost_doorbell(outbox: SmsOutbox) -> None:
    _set(outbox, created_at=_ago(GRACE + 1))


def _expired_lease(outbox: SmsOutbox) -> None:
    _set(outbox, status=OutboxStatus.SENDING, attempts=1, claimed_at=_ago(LEASE + 1))


@pytest.mark.parametrize(
    "make_due",
    [_pending_retry_due, _lost_doorbell, _expired_lease],
    ids=["retry-due", "lost-doorbell", "expired-lease"],
)
def test_the_sweeper_finds_a_row_that_is_due(world: World, make_due: Any) -> None:
    outbox = _waiting(world)
    make_due(outbox)
    assert due_outbox_ids() == [outbox.pk]


def _fresh(outbox: SmsOutbox) -> None:
    pass


def _within_grace(outbox: SmsOutbox) -> None:
    _set(outbox, created_at=_ago(GRACE - 5))


def _retry_not_yet_due(outbox: SmsOutbox) -> None:
    _set(outbox, attempts=1, created_at=_ago(3600), next_attempt_at=_ago(-30))


def _within_lease(outbox: SmsOutbox) -> None:
    _set(
        outbox,
        status=OutboxStatus.SENDING,
        attempts=1,
        created_at=_ago(3600),
        claimed_at=_ago(LEASE - 5),
    )


def _finished(status: str, delivery_status: str) -> Any:
    def finish(outbox: SmsOutbox) -> None:
        _set(outbox, status=status, delivery_status=delivery_status, created_at=_ago(3600))

    finish.__name__ = f"_{status}"
    return finish


@pytest.mark.parametrize(
    "make_not_due",
    [
        _fresh,
        _within_grace,
        _retry_not_yet_due,
        _within_lease,
        _finished(OutboxStatus.SENT, DeliveryStatus.QUEUED),
        _finished(OutboxStatus.FAILED, DeliveryStatus.FAILED),
        _finished(OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT),
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_the_sweeper_leaves_a_row_that_is_not_due(world: World, make_not_due: Any) -> None:
    make_not_due(_waiting(world))
    assert due_outbox_ids() == []


def test_the_sweeper_takes_the_oldest_rows_first_up_to_its_limit(world: World) -> None:
    newer, older = _waiting(world, "Newer."), _waiting(world, "Older.")
    _set(newer, created_at=_ago(120))
    _set(older, created_at=_ago(600))
    assert due_outbox_ids(limit=1) == [older.pk]
    assert due_outbox_ids() == [older.pk, newer.pk]


def test_the_sweep_task_sends_the_due_rows_and_says_how_many(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    lost = _waiting(world, "Its doorbell was lost.")
    retry = _waiting(world, "Its retry is due.")
    fresh = _waiting(world, "Just written.")
    _lost_doorbell(lost)
    _pending_retry_due(retry)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_sms_outbox() == 2
    assert sorted(sms.body for sms in fake_twilio.sent) == [
        "Its doorbell was lost.",
        "Its retry is due.",
    ]
    assert _reload(fresh).status == OutboxStatus.PENDING


def test_the_sweeper_rings_with_row_ids_only(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(deliver_sms, "delay", lambda *a, **k: calls.append((a, k)))
    outbox = _waiting(world)
    _lost_doorbell(outbox)
    sweep_sms_outbox()
    assert calls == [((outbox.pk,), {})]
    assert type(calls[0][0][0]) is int


def test_the_beat_runs_the_sweeper_every_few_seconds() -> None:
    schedule = deliver_sms.app.conf.beat_schedule
    entries = [entry for entry in schedule.values() if entry["task"] == sweep_sms_outbox.name]
    assert sweep_sms_outbox.name == "messaging.sweep_sms_outbox"
    assert len(entries) == 1
    assert entries[0]["schedule"] <= GRACE


# The broker is a doorbell: when it is down, nothing is lost.


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_message_and_its_pending_row_are_committed(
    world: World, fake_twilio: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def broker_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(deliver_sms, "delay", broker_down)
    caplog.set_level(logging.WARNING, logger="messaging.sms.outbox")
    message = _post(world)  # commits for real: the doorbell rings on commit
    assert Message.objects.filter(pk=message.pk).exists()
    outbox = SmsOutbox.objects.get(message=message)
    assert (outbox.status, outbox.attempts) == (OutboxStatus.PENDING, 0)
    assert fake_twilio.requests == 0
    assert "sms task not queued" in caplog.text


def test_a_row_whose_doorbell_the_broker_lost_is_sent_by_the_sweeper(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    outbox = _waiting(world)  # the task never ran
    _lost_doorbell(outbox)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_sms_outbox() == 1
    assert [sms.body for sms in fake_twilio.sent] == [BODY]
    assert _reload(outbox).status == OutboxStatus.SENT


# --- Rows that can never go, a database outage after the send --------------------------------


def test_a_text_whose_conversation_was_erased_fails_once_and_is_not_swept_again(
    world: World, fake_twilio: Any
) -> None:
    from encryption.services import shred_data_key

    outbox = _waiting(world)
    _set(outbox, created_at=_ago(3600))
    shred_data_key(data_key=outbox.message.conversation.data_key)
    assert send_outbox(outbox_id=outbox.pk) == "failed"
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.FAILED, DeliveryStatus.FAILED)
    assert due_outbox_ids() == []
    assert fake_twilio.sent == []


def test_the_sweeper_takes_rows_in_the_order_they_became_due(world: World) -> None:
    # A row that has waited long for its retry comes before one written just before it,
    # whatever their creation order: a row failing again and again can't hold the head.
    retried, lost = _waiting(world, "Retried text."), _waiting(world, "Lost doorbell.")
    _set(retried, created_at=_ago(7200), next_attempt_at=_ago(10), attempts=3)
    _set(lost, created_at=_ago(600))
    assert due_outbox_ids() == [lost.pk, retried.pk]


def test_a_send_is_recorded_through_a_short_database_outage(
    world: World, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The text is out; writing down its MessageSid fails twice (the database restarting),
    # then works. A row left `sending` would be claimed and texted again after its lease.
    from django.db import OperationalError as DatabaseDown

    outbox = _waiting(world)
    real = delivery._record_accepted
    failures = iter([DatabaseDown("down"), DatabaseDown("still down")])

    def flaky(accepted: Any) -> dict[int, str]:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(accepted)

    monkeypatch.setattr(delivery, "_record_accepted", flaky)
    monkeypatch.setattr(delivery, "RECORD_RETRY_SECONDS", (0, 0, 0))
    assert send_outbox(outbox_id=outbox.pk) == "sent"
    row = _reload(outbox)
    assert row.status == OutboxStatus.SENT
    assert row.provider_message_id == fake_twilio.sent[0].sid
    assert len(fake_twilio.sent) == 1


def test_a_report_for_a_text_given_up_on_says_what_really_happened(
    world: World, fake_twilio: Any
) -> None:
    # Every attempt timed out but the last one reached the phone: the report adopts the row
    # and its status is the report's, not a "failed" that moves back to "pending".
    outbox = _waiting(world)
    fake_twilio.fail_next(Failure(timeout=True, sends=True))
    _set(outbox, attempts=settings.SMS_SEND_MAX_ATTEMPTS - 1)
    assert send_outbox(outbox_id=outbox.pk) == "failed"
    assert _reload(outbox).delivery_status == DeliveryStatus.FAILED
    response = status_callback(Client(), fake_twilio.sent[0], "delivered")
    assert response.status_code == 200
    row = _reload(outbox)
    assert (row.status, row.delivery_status) == (OutboxStatus.SENT, DeliveryStatus.DELIVERED)
    assert row.provider_message_id == fake_twilio.sent[0].sid
