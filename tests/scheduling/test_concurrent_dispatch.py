"""Two dispatchers at once on PostgreSQL (issue 7 item 6; DESIGN.md §3, scale-out): over
thousands of due sends, SKIP LOCKED shares the work between them, and every send is handled
exactly once: zero duplicates, zero misses. SQLite has one writer at a time and proves
nothing here. Reminder texts are fictional."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db.models import Count
from django.test import Client
from time_machine import travel

from encryption.services import encrypt
from messaging.actions.sms_consent import has_opted_out, opt_out_of_sms
from messaging.models import Message, MessageChannel, SmsOutbox
from people.models import Channel, ConsentSource
from programmes.services import ArmSpec
from scheduling import dispatch as dispatch_module
from scheduling.dispatch import dispatch_due
from scheduling.models import (
    PendingSend,
    Recurrence,
    Reminder,
    ReminderKind,
    SendRecord,
    SendState,
    Stream,
)
from scheduling.selectors import reminder_ref
from tests.conftest import using_postgres
from tests.scheduling.texts import enrol_for_texts, text_programme, utc
from tests.support import sms
from tests.support.concurrency import at_once
from tests.support.sms import phone_of

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not using_postgres(), reason="row locks: PEERLINK_TEST_DB=postgres"),
]

# Half the people chat with a peer supporter (texts go into their thread), half are in the
# texts-only arm (no thread: texts go straight to the outbox).
ARMS = (
    ArmSpec("peer_support_texts", "Peer support and supportive texts", True, True, True),
    ArmSpec("texts", "Supportive texts", False, True, True),
)
PEOPLE = 100
REMINDERS_EACH = 20
DUE = utc("2027-02-03T17:00")  # 10:00 in Edmonton


def _due_world() -> int:
    """PEOPLE enrolments, each with its supportive text and REMINDERS_EACH reminders due at
    DUE. Returns how many sends are due."""
    with_clock = utc("2027-02-02T17:30")
    with travel(with_clock, tick=False):
        programme = text_programme(arms=ARMS)
        enrolments = [enrol_for_texts(programme, channel=Channel.SMS) for _ in range(PEOPLE)]
    rows = []
    for enrolment in enrolments:
        participant = enrolment.participant
        for number in range(REMINDERS_EACH):
            reminder = Reminder.objects.create(
                enrolment=enrolment,
                kind=ReminderKind.MEDICATION,
                body_ciphertext=b"",
                local_time=dt.time(10, 0),
                first_date=dt.date(2027, 2, 3),
                recurrence=Recurrence.ONCE,
                last_date=dt.date(2027, 2, 3),
            )
            reminder.body_ciphertext = encrypt(
                data_key=participant.data_key,
                plaintext=f"Fictional reminder {number}.",
                ref=reminder_ref(reminder.pk),
            )
            reminder.save(update_fields=["body_ciphertext"])
            rows.append(
                PendingSend(
                    enrolment=enrolment,
                    stream=Stream.REMINDER,
                    reminder=reminder,
                    state=SendState.SCHEDULED,
                    due_at=DUE,
                    stale_at=DUE + dt.timedelta(hours=3),
                    slot_date=dt.date(2027, 2, 3),
                    slot_index=0,
                )
            )
    PendingSend.objects.bulk_create(rows)
    assert PendingSend.objects.filter(stream=Stream.SUPPORTIVE, due_at=DUE).count() == PEOPLE
    return PendingSend.objects.filter(state=SendState.SCHEDULED, due_at__lte=DUE).count()


@pytest.fixture
def sends_queued_not_run() -> Iterator[None]:
    """The SMS tasks go to the (in-memory) broker instead of running in the dispatcher's
    thread: what is tested is the dispatch, and 2,100 provider calls would only slow it."""
    from peerlink.celery import app

    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True


def test_two_dispatchers_send_each_of_thousands_of_due_texts_exactly_once(
    transactional_db: None, sends_queued_not_run: None
) -> None:
    due = _due_world()
    assert due == PEOPLE * (REMINDERS_EACH + 1)

    first, second = at_once(
        lambda: dispatch_due(now=DUE, batch=50), lambda: dispatch_due(now=DUE, batch=50)
    )

    assert first.outcomes["sent"] > 0 and second.outcomes["sent"] > 0, "both did some work"
    assert first.handled + second.handled == due
    records = SendRecord.objects.all()
    assert records.count() == due
    assert Counter(records.values_list("outcome", flat=True)) == {"sent": due}
    # Each stream's first send, once: every row moved on to sequence number 2.
    assert not PendingSend.objects.exclude(seq=2).exists()
    threaded = Message.objects.filter(channel=MessageChannel.AUTOMATED)
    assert (
        not threaded.values("conversation", "client_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    )
    direct = SmsOutbox.objects.filter(scheduled_send__isnull=False)
    assert threaded.count() + direct.count() == due
    # One SMS per send (everyone reads by SMS): none doubled, none missing.
    assert SmsOutbox.objects.filter(purpose="automated").count() == due
    # And a third dispatcher afterwards finds nothing left to do.
    assert dispatch_due(now=DUE).handled == 0
    assert SendRecord.objects.count() == due


def batch_waits_holding_its_rows(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The dispatcher's batch, once it holds its pending rows, waits 1.5 s before writing its
    messages (so that a STOP arrives meanwhile); the event is set when it starts to wait."""
    inside = threading.Event()
    real_post = dispatch_module.post_automated_messages

    def slow_post(**kwargs: object) -> object:
        inside.set()
        time.sleep(1.5)
        return real_post(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatch_module, "post_automated_messages", slow_post)
    return inside


def test_a_stop_while_the_dispatcher_holds_the_persons_send_waits_for_it_and_wins(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch, fake_twilio: object
) -> None:
    """STOP locks the person's pending sends before their conversation, the dispatcher's
    order: it waits for the batch instead of deadlocking (which would roll the STOP back),
    then stops the stream and cancels what the batch queued, if not already sent."""
    with travel(utc("2027-02-02T17:30"), tick=False):
        programme = text_programme(arms=ARMS[:1])
        enrolment = enrol_for_texts(programme, channel=Channel.SMS)
    participant = enrolment.participant
    inside = batch_waits_holding_its_rows(monkeypatch)

    def stop_when_inside() -> bool:
        assert inside.wait(timeout=30)
        return opt_out_of_sms(participant=participant, source=ConsentSource.SMS, reference="SM1")

    with travel(DUE, tick=False):
        result, stopped = at_once(lambda: dispatch_due(now=DUE), stop_when_inside)

    assert stopped is True
    assert has_opted_out(participant)
    assert result.outcomes["sent"] == 1
    row = PendingSend.objects.get(enrolment=enrolment, stream=Stream.SUPPORTIVE)
    assert (row.state, row.stop_reason) == (SendState.STOPPED, "opted_out")
    # The batch's one text went out before the STOP or was cancelled by it: never pending.
    (outbox,) = SmsOutbox.objects.filter(purpose="automated")
    assert outbox.status in ("sent", "skipped")
    with travel(DUE + dt.timedelta(days=1), tick=False):
        assert dispatch_due().handled == 0


def test_a_texted_stop_while_the_dispatcher_holds_the_persons_send_neither_deadlocks(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch, fake_twilio: object
) -> None:
    """A STOP texted in is written into the person's thread: it locks their pending sends
    before the conversation, as the dispatcher does, or the two deadlock and PostgreSQL rolls
    one back (the STOP, or the batch). Both commit: the batch's text is sent or cancelled,
    the STOP stands, and the thread reads STOP, then the opt-out notice."""
    with travel(utc("2027-02-02T17:30"), tick=False):
        programme = text_programme(arms=ARMS[:1])
        enrolment = enrol_for_texts(programme, channel=Channel.SMS)
    participant = enrolment.participant
    phone = phone_of(enrolment)
    inside = batch_waits_holding_its_rows(monkeypatch)

    def text_stop_when_inside() -> int:
        assert inside.wait(timeout=30)
        return sms.inbound(Client(), sender=phone, body="STOP").status_code

    with travel(DUE, tick=False):
        result, status = at_once(lambda: dispatch_due(now=DUE), text_stop_when_inside)

    assert status == 200
    assert result.outcomes == {"sent": 1}
    assert has_opted_out(participant)
    row = PendingSend.objects.get(enrolment=enrolment, stream=Stream.SUPPORTIVE)
    assert (row.state, row.stop_reason) == (SendState.STOPPED, "opted_out")
    (outbox,) = SmsOutbox.objects.filter(purpose="automated")
    assert outbox.status in ("sent", "skipped")
    channels = list(
        Message.objects.filter(conversation__enrolment=enrolment)
        .order_by("seq")
        .values_list("channel", flat=True)
    )
    assert channels == [MessageChannel.AUTOMATED, MessageChannel.SMS, MessageChannel.SYSTEM]
