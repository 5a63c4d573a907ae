"""The due-send dispatcher (issue 7; DESIGN.md §3, data flow 4): a due supportive text goes
once, at the person's local send time, into their thread or (without one) straight to the
outbox; the next send is planned; library order, exhaustion, tracks, languages and approval
decide what is sent; staleness, quiet hours, staff pauses, risk alerts, opt-out, withdrawal,
the programme's duration and the arm decide whether anything is sent at all.

Everyone here lives in America/Edmonton (UTC-7 in January): 10:00 local is 17:00 UTC. The
clock stands still at explicit UTC instants; texts are fictional."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management import call_command

from messaging.actions.sms_consent import opt_in_to_sms, opt_out_of_sms
from messaging.models import (
    Conversation,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    OutboxTemplate,
    SmsOutbox,
)
from messaging.risk.models import Resolution
from messaging.risk.services import acknowledge_alert, raise_signal, resolve_alert
from messaging.sms.delivery import ClaimedSend, _text, claim
from people.models import ConsentSource
from programmes.models import Enrolment, EnrolmentStatus, Programme
from programmes.services import ArmSpec, end_enrolment
from scheduling.dispatch import RETRY_AFTER, dispatch_due
from scheduling.models import (
    LibraryMessage,
    PendingSend,
    Recurrence,
    Reminder,
    ReminderKind,
    SendOutcome,
    SendRecord,
    SendState,
    StopReason,
    Stream,
)
from scheduling.selectors import scheduled_text
from scheduling.services import create_reminder, pause_texts, resume_texts
from tests.scheduling.texts import (
    PEER_AND_TEXTS,
    TEXTS_ONLY,
    automated_bodies,
    automated_outbox,
    clock,
    dispatch,
    enrol_for_texts,
    enrol_in_arm,
    library,
    library_of,
    outcomes,
    records,
    reminder_rows,
    sent_at,
    sent_texts,
    supervisor,
    supportive,
    text_programme,
    utc,
)

pytestmark = pytest.mark.django_db

# Monday 2027-01-04, 11:00 in Edmonton: the first text is due the next day at 10:00 local.
ENROLLED = "2027-01-04T18:00"
DAY_1 = utc("2027-01-05T17:00")
DAY_2 = utc("2027-01-06T17:00")
DAY_3 = utc("2027-01-07T17:00")
DAY_4 = utc("2027-01-08T17:00")
MINUTE = dt.timedelta(minutes=1)


def text(n: int, track: str = "general", language: str = "en") -> str:
    return f"Fictional {track} text {n} ({language})."


def enrolled(**kwargs: object) -> Enrolment:
    """A person in the texts-only arm of a programme with the default schedule (10:00 daily)."""
    with clock(ENROLLED):
        programme = text_programme()
        return enrol_for_texts(programme, **kwargs)  # type: ignore[arg-type]


def enrolled_in(*, arms: tuple[ArmSpec, ...] = PEER_AND_TEXTS, **schedule: object) -> Enrolment:
    with clock(ENROLLED):
        programme = text_programme(arms=arms, **schedule)
        return enrol_for_texts(programme)


def reminder(enrolment: Enrolment, *, at: dt.time, on: dt.date, body: str) -> Reminder:
    return create_reminder(
        enrolment=enrolment,
        kind=ReminderKind.APPOINTMENT,
        body=body,
        local_time=at,
        first_date=on,
        recurrence=Recurrence.ONCE,
        created_by=None,
    )


# --- Sending --------------------------------------------------------------------------------------


def test_a_due_text_goes_into_the_thread_of_a_peer_support_and_texts_person() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    assert supportive(enrolment).due_at == DAY_1

    result = dispatch(DAY_1)

    assert result.outcomes == Counter({SendOutcome.SENT: 1})
    assert automated_bodies(enrolment) == [text(1)]
    message = Message.objects.get(conversation=enrolment.conversation)
    assert message.channel == MessageChannel.AUTOMATED
    assert message.created_at == DAY_1


def test_an_sms_reader_gets_an_automated_outbox_row_that_expires_when_the_send_goes_stale() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    stale_at = supportive(enrolment).stale_at
    assert stale_at == DAY_1 + dt.timedelta(minutes=180)

    dispatch(DAY_1)

    (outbox,) = automated_outbox(enrolment)
    assert outbox.purpose == OutboxPurpose.AUTOMATED
    assert outbox.status == OutboxStatus.PENDING
    assert outbox.expires_at == stale_at
    assert outbox.message == records(enrolment)[0].message


def test_a_texts_only_person_gets_a_scheduled_outbox_row_with_the_library_text() -> None:
    enrolment = enrolled()
    assert not Conversation.objects.filter(enrolment=enrolment).exists()
    stale_at = supportive(enrolment).stale_at

    dispatch(DAY_1)

    (record,) = records(enrolment)
    (outbox,) = automated_outbox(enrolment)
    assert outbox.template == OutboxTemplate.SCHEDULED
    assert outbox.message is None
    assert outbox.scheduled_send == record
    assert outbox.expires_at == stale_at
    assert record.library_message == LibraryMessage.objects.get(key="general-en-001")
    assert _text(outbox) == text(1)
    assert scheduled_text(record.pk) == text(1)


def test_a_texts_only_person_without_sms_consent_is_recorded_unreached_and_nothing_queued() -> None:
    enrolment = enrolled(sms_consent=False)

    result = dispatch(DAY_1)

    assert result.outcomes == Counter({SendOutcome.NO_SMS_CONSENT: 1})
    assert automated_outbox(enrolment) == []
    # Not counted as delivered: their first text is still the first one the library holds.
    assert supportive(enrolment).sent_count == 0
    assert supportive(enrolment).due_at == DAY_2


def test_dispatching_twice_at_the_same_instant_sends_nothing_more() -> None:
    enrolment = enrolled()
    dispatch(DAY_1)

    again = dispatch(DAY_1)

    assert again.handled == 0
    assert outcomes(enrolment) == [SendOutcome.SENT]
    assert len(automated_outbox(enrolment)) == 1


def test_nothing_is_sent_before_it_is_due() -> None:
    enrolment = enrolled()

    early = dispatch(DAY_1 - dt.timedelta(seconds=1))

    assert early.handled == 0
    assert records(enrolment) == []
    assert supportive(enrolment).due_at == DAY_1


def test_nothing_is_sent_on_the_day_of_enrolment() -> None:
    enrolment = enrolled()

    assert dispatch("2027-01-04T23:59").handled == 0
    assert records(enrolment) == []


def test_after_a_send_the_next_is_planned_for_the_send_time_the_next_day() -> None:
    enrolment = enrolled()

    dispatch(DAY_1)

    row = supportive(enrolment)
    assert row.state == SendState.SCHEDULED
    assert row.due_at == DAY_2
    assert (row.slot_date, row.slot_index) == (dt.date(2027, 1, 6), 0)
    assert (row.done_date, row.done_index) == (dt.date(2027, 1, 5), 0)
    assert row.seq == 2


def test_texts_follow_library_position_order_not_file_order() -> None:
    lib = library_of(
        [
            ("c-third", 3, "Fictional third text."),
            ("a-first", 1, "Fictional first text."),
            ("b-second", 2, "Fictional second text."),
        ]
    )
    with clock(ENROLLED):
        enrolment = enrol_for_texts(text_programme(lib=lib))

    for due in (DAY_1, DAY_2, DAY_3):
        dispatch(due)

    assert sent_texts(enrolment) == [
        "Fictional first text.",
        "Fictional second text.",
        "Fictional third text.",
    ]


def test_two_send_times_a_day_each_send_at_their_local_time() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS, send_times=["18:00", "09:30"])
    morning, evening = utc("2027-01-05T16:30"), utc("2027-01-06T01:00")
    assert supportive(enrolment).due_at == morning

    dispatch(morning)
    assert supportive(enrolment).due_at == evening
    dispatch(evening)

    assert sent_at(enrolment) == [morning, evening]
    assert automated_bodies(enrolment) == [text(1), text(2)]
    assert supportive(enrolment).due_at == utc("2027-01-06T16:30")


# --- Library exhaustion, tracks, languages, approval ----------------------------------------------


def test_an_exhausted_library_starts_again_when_it_wraps() -> None:
    with clock(ENROLLED):
        enrolment = enrol_for_texts(text_programme(lib=library(count=2), when_exhausted="wrap"))

    for due in (DAY_1, DAY_2, DAY_3):
        dispatch(due)

    assert sent_texts(enrolment) == [text(1), text(2), text(1)]
    assert supportive(enrolment).due_at == DAY_4


def test_an_exhausted_library_stops_the_stream_when_the_programme_says_stop() -> None:
    with clock(ENROLLED):
        enrolment = enrol_for_texts(text_programme(lib=library(count=2), when_exhausted="stop"))
    dispatch(DAY_1)
    dispatch(DAY_2)

    third = dispatch(DAY_3)

    assert third.outcomes == Counter({f"stopped:{StopReason.EXHAUSTED}": 1})
    row = supportive(enrolment)
    assert (row.state, row.stop_reason) == (SendState.STOPPED, StopReason.EXHAUSTED)
    assert row.due_at is None
    assert dispatch(DAY_4).handled == 0
    assert sent_texts(enrolment) == [text(1), text(2)]


def test_a_depression_enrolment_gets_the_depression_track() -> None:
    with clock(ENROLLED):
        programme = text_programme(lib=library(tracks=("general", "depression")))
        enrolment = enrol_for_texts(programme, track="depression")

    dispatch(DAY_1)
    dispatch(DAY_2)

    assert sent_texts(enrolment) == [text(1, "depression"), text(2, "depression")]


def test_a_track_the_library_lacks_falls_back_to_general() -> None:
    with clock(ENROLLED):
        programme = text_programme(lib=library(tracks=("general",)))
        enrolment = enrol_for_texts(programme, track="depression")

    dispatch(DAY_1)

    assert sent_texts(enrolment) == [text(1)]


def test_track_rule_general_ignores_the_enrolment_track() -> None:
    with clock(ENROLLED):
        programme = text_programme(
            lib=library(tracks=("general", "depression")), track_rule="general"
        )
        enrolment = enrol_for_texts(programme, track="depression")

    dispatch(DAY_1)

    assert sent_texts(enrolment) == [text(1)]


def test_a_french_speaker_gets_french_texts() -> None:
    with clock(ENROLLED):
        programme = text_programme(lib=library(languages=("en", "fr")))
        english = enrol_for_texts(programme)
        french = enrol_for_texts(programme, language="fr")

    dispatch(DAY_1)

    assert sent_texts(french) == [text(1, language="fr")]
    assert sent_texts(english) == [text(1, language="en")]


def test_unapproved_texts_are_never_sent_and_the_stream_stops_with_no_content() -> None:
    with clock(ENROLLED):
        enrolment = enrol_for_texts(text_programme(lib=library(approved=False)))

    result = dispatch(DAY_1)

    assert result.outcomes == Counter({f"stopped:{StopReason.NO_CONTENT}": 1})
    row = supportive(enrolment)
    assert (row.state, row.stop_reason) == (SendState.STOPPED, StopReason.NO_CONTENT)
    assert records(enrolment) == []
    assert automated_outbox(enrolment) == []


# --- Staleness and the night ----------------------------------------------------------------------


def test_after_two_days_of_downtime_the_missed_send_is_recorded_stale_once() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)

    # The dispatcher was down from before DAY_1 until 11:00 local two days later.
    result = dispatch("2027-01-07T18:00")

    assert result.outcomes == Counter({SendOutcome.STALE: 1})
    (record,) = records(enrolment)
    assert record.outcome == SendOutcome.STALE
    assert record.due_at == DAY_1
    assert record.message is None
    assert automated_bodies(enrolment) == []
    assert automated_outbox(enrolment) == []


def test_after_downtime_the_next_send_is_the_next_future_slot() -> None:
    enrolment = enrolled()

    dispatch("2027-01-07T18:00")  # 11:00 local: that day's 10:00 has passed too

    row = supportive(enrolment)
    assert row.due_at == DAY_4
    assert row.seq == 2
    assert dispatch(DAY_4).outcomes == Counter({SendOutcome.SENT: 1})
    assert sent_texts(enrolment) == [text(1)]


def test_after_downtime_ending_before_the_send_time_the_same_days_slot_is_next() -> None:
    enrolment = enrolled()

    dispatch("2027-01-07T16:00")  # 09:00 local

    assert outcomes(enrolment) == [SendOutcome.STALE]
    assert supportive(enrolment).due_at == DAY_3


def test_a_missed_morning_send_never_goes_out_at_night() -> None:
    # A day-long staleness limit: the evening quiet hours still cut it off.
    enrolment = enrolled_in(arms=PEER_AND_TEXTS, staleness_minutes=1440)
    assert supportive(enrolment).stale_at == utc("2027-01-06T04:00")  # 21:00 local

    result = dispatch("2027-01-06T06:00")  # 23:00 local

    assert SendOutcome.SENT not in result.outcomes
    assert outcomes(enrolment)[0] in (SendOutcome.STALE, SendOutcome.QUIET_HOURS)
    assert automated_bodies(enrolment) == []
    assert automated_outbox(enrolment) == []
    assert supportive(enrolment).due_at == DAY_2


def test_a_late_send_within_the_staleness_limit_still_goes() -> None:
    enrolment = enrolled()

    result = dispatch(DAY_1 + dt.timedelta(minutes=179))

    assert result.outcomes == Counter({SendOutcome.SENT: 1})
    assert supportive(enrolment).due_at == DAY_2


# --- Staff pause ----------------------------------------------------------------------------------


def test_a_staff_pause_stops_sends() -> None:
    enrolment = enrolled()
    staff = supervisor(enrolment.programme)
    with clock("2027-01-05T16:00"):
        pause_texts(enrolment=enrolment, by=staff)

    assert dispatch(DAY_1).handled == 0
    assert dispatch(DAY_2).handled == 0
    row = supportive(enrolment)
    assert row.state == SendState.PAUSED
    assert row.due_at is None
    assert records(enrolment) == []


def test_resuming_after_a_pause_plans_from_now_without_a_backlog() -> None:
    enrolment = enrolled()
    staff = supervisor(enrolment.programme)
    dispatch(DAY_1)
    with clock("2027-01-05T18:00"):
        pause_texts(enrolment=enrolment, by=staff)

    with clock("2027-01-08T19:00"):  # 12:00 local, three days on
        resume_texts(enrolment=enrolment, by=staff)

    row = supportive(enrolment)
    assert (row.state, row.due_at) == (SendState.SCHEDULED, utc("2027-01-09T17:00"))
    assert dispatch("2027-01-09T17:00").outcomes == Counter({SendOutcome.SENT: 1})
    assert outcomes(enrolment) == [SendOutcome.SENT, SendOutcome.SENT]
    assert sent_texts(enrolment) == [text(1), text(2)]


# --- Risk alerts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["lexicon", "peer_flag"])
def test_an_open_risk_alert_holds_supportive_texts_but_reminders_still_go(source: str) -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    with clock("2027-01-05T15:00"):
        reminder(
            enrolment,
            at=dt.time(10, 0),
            on=dt.date(2027, 1, 5),
            body="Fictional appointment at the north clinic.",
        )
        raise_signal(
            source=source,
            source_key=f"{source}:1",
            severity="high",
            categories=["suicide"],
            enrolment=enrolment,
        )

    result = dispatch(DAY_1)

    assert result.outcomes == Counter({SendOutcome.ALERT_PAUSE: 1, SendOutcome.SENT: 1})
    assert outcomes(enrolment, Stream.SUPPORTIVE) == [SendOutcome.ALERT_PAUSE]
    assert outcomes(enrolment, Stream.REMINDER) == [SendOutcome.SENT]
    assert sent_texts(enrolment, Stream.REMINDER) == ["Fictional appointment at the north clinic."]
    assert sent_texts(enrolment, Stream.SUPPORTIVE) == []
    assert supportive(enrolment).due_at == DAY_2


def test_after_the_alert_is_resolved_supportive_texts_resume() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    staff = supervisor(enrolment.programme)
    with clock("2027-01-05T15:00"):
        alert = raise_signal(
            source="peer_flag",
            source_key="peer_flag:1",
            severity="medium",
            categories=["other"],
            enrolment=enrolment,
        )
    dispatch(DAY_1)

    with clock("2027-01-05T20:00"):
        resolve_alert(alert_id=alert.pk, by=staff, resolution=Resolution.SAFE)
    result = dispatch(DAY_2)

    assert result.outcomes == Counter({SendOutcome.SENT: 1})
    assert outcomes(enrolment) == [SendOutcome.ALERT_PAUSE, SendOutcome.SENT]
    # The held send did not use up a text: the first goes now.
    assert sent_texts(enrolment) == [text(1)]
    assert automated_bodies(enrolment)[-1] == text(1)


def test_an_acknowledged_alert_still_holds_supportive_texts() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    staff = supervisor(enrolment.programme)
    with clock("2027-01-05T15:00"):
        alert = raise_signal(
            source="lexicon",
            source_key="lexicon:1",
            severity="high",
            categories=["self_harm"],
            enrolment=enrolment,
        )
        acknowledge_alert(alert_id=alert.pk, by=staff)

    assert dispatch(DAY_1).outcomes == Counter({SendOutcome.ALERT_PAUSE: 1})


def test_a_programme_that_does_not_pause_texts_during_alerts_sends_them() -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    Programme.objects.filter(pk=enrolment.programme_id).update(pause_texts_during_alert=False)
    with clock("2027-01-05T15:00"):
        raise_signal(
            source="peer_flag",
            source_key="peer_flag:1",
            severity="medium",
            categories=["other"],
            enrolment=enrolment,
        )

    assert dispatch(DAY_1).outcomes == Counter({SendOutcome.SENT: 1})
    assert sent_texts(enrolment) == [text(1)]


# --- Opting out and back in -----------------------------------------------------------------------


def test_opting_out_mid_programme_stops_the_stream() -> None:
    enrolment = enrolled()
    dispatch(DAY_1)

    with clock("2027-01-05T20:00"):
        opt_out_of_sms(
            participant=enrolment.participant, source=ConsentSource.SMS, reference="SMfake1"
        )

    row = supportive(enrolment)
    assert (row.state, row.stop_reason) == (SendState.STOPPED, StopReason.OPTED_OUT)
    assert dispatch(DAY_2).handled == 0
    assert dispatch(DAY_3).handled == 0
    assert outcomes(enrolment) == [SendOutcome.SENT]


def test_opting_back_in_resumes_from_the_next_future_slot_without_the_missed_ones() -> None:
    enrolment = enrolled()
    dispatch(DAY_1)
    with clock("2027-01-05T20:00"):
        opt_out_of_sms(
            participant=enrolment.participant, source=ConsentSource.SMS, reference="SMfake1"
        )
    dispatch(DAY_2)
    dispatch(DAY_3)

    with clock("2027-01-07T20:00"):  # 13:00 local, after that day's send time
        opt_in_to_sms(
            participant=enrolment.participant, source=ConsentSource.SMS, reference="SMfake2"
        )

    row = supportive(enrolment)
    assert (row.state, row.stop_reason, row.due_at) == (
        SendState.SCHEDULED,
        StopReason.NONE,
        DAY_4,
    )
    assert dispatch(DAY_4).outcomes == Counter({SendOutcome.SENT: 1})
    assert outcomes(enrolment) == [SendOutcome.SENT, SendOutcome.SENT]
    assert sent_texts(enrolment) == [text(1), text(2)]


def test_opting_back_in_before_the_days_send_time_resumes_that_same_day() -> None:
    enrolment = enrolled()
    with clock("2027-01-05T15:00"):
        opt_out_of_sms(
            participant=enrolment.participant, source=ConsentSource.SMS, reference="SMfake1"
        )
    dispatch(DAY_1)

    with clock("2027-01-06T15:00"):  # 08:00 local
        opt_in_to_sms(
            participant=enrolment.participant, source=ConsentSource.SMS, reference="SMfake2"
        )

    assert supportive(enrolment).due_at == DAY_2
    dispatch(DAY_2)
    assert sent_texts(enrolment) == [text(1)]
    assert sent_at(enrolment) == [DAY_2]


# --- Withdrawal, duration, the arm ----------------------------------------------------------------


def test_withdrawal_stops_every_stream_of_the_enrolment() -> None:
    enrolment = enrolled()
    with clock("2027-01-05T15:00"):
        reminder(enrolment, at=dt.time(14, 0), on=dt.date(2027, 1, 6), body="Fictional visit.")

    with clock("2027-01-05T16:00"):
        end_enrolment(enrolment=enrolment, status=EnrolmentStatus.WITHDRAWN, ended_by=None)

    rows = PendingSend.objects.filter(enrolment=enrolment)
    assert rows.count() == 2
    assert {(r.state, r.stop_reason) for r in rows} == {
        (SendState.STOPPED, StopReason.ENROLMENT_ENDED)
    }
    assert dispatch(DAY_1).handled == 0
    assert dispatch("2027-01-06T21:00").handled == 0
    assert records(enrolment) == []


def test_no_text_is_sent_after_the_programme_duration() -> None:
    with clock(ENROLLED):
        enrolment = enrol_for_texts(text_programme(duration_days=2))

    for due in (DAY_1, DAY_2):
        dispatch(due)

    row = supportive(enrolment)
    assert (row.state, row.due_at) == (SendState.FINISHED, None)
    assert dispatch(DAY_3).handled == 0
    assert dispatch(DAY_4).handled == 0
    assert sent_at(enrolment) == [DAY_1, DAY_2]


def test_usual_care_gets_no_planned_texts() -> None:
    arms = (
        ArmSpec("usual_care", "Usual care", False, False, False),
        ArmSpec("texts", "Supportive texts", False, True, True),
    )
    with clock(ENROLLED):
        programme = text_programme(arms=arms)
        usual = enrol_in_arm(programme, "usual_care")

    assert not PendingSend.objects.filter(enrolment=usual).exists()
    dispatch(DAY_1)
    assert records(usual) == []
    assert automated_outbox(usual) == []


def test_the_texts_arm_gets_a_planned_stream() -> None:
    arms = (
        ArmSpec("usual_care", "Usual care", False, False, False),
        ArmSpec("texts", "Supportive texts", False, True, True),
    )
    with clock(ENROLLED):
        programme = text_programme(arms=arms)
        texted = enrol_in_arm(programme, "texts")

    row = supportive(texted)
    assert (row.state, row.due_at) == (SendState.SCHEDULED, DAY_1)
    dispatch(DAY_1)
    assert sent_texts(texted) == [text(1)]


# --- The SMS outbox's expiry ----------------------------------------------------------------------


def test_claim_expires_an_automated_row_past_its_staleness_limit(fake_twilio: object) -> None:
    enrolment = enrolled_in(arms=PEER_AND_TEXTS)
    dispatch(DAY_1)
    (outbox,) = automated_outbox(enrolment)
    assert outbox.expires_at is not None

    with clock(outbox.expires_at):
        claimed = claim(outbox_id=outbox.pk)

    assert claimed == "expired"
    outbox.refresh_from_db()
    assert outbox.status == OutboxStatus.EXPIRED
    assert outbox.attempts == 0
    assert fake_twilio.sent == []  # type: ignore[attr-defined]


def test_claim_hands_over_an_automated_row_before_it_expires() -> None:
    enrolment = enrolled()
    dispatch(DAY_1)
    (outbox,) = automated_outbox(enrolment)
    assert outbox.expires_at is not None

    with clock(outbox.expires_at - dt.timedelta(seconds=1)):
        claimed = claim(outbox_id=outbox.pk)

    assert isinstance(claimed, ClaimedSend)
    assert claimed.sms.body == text(1)


# --- Failures and the command ---------------------------------------------------------------------


def test_a_row_whose_send_fails_is_postponed_five_minutes_and_the_batch_goes_on() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        broken, fine = enrol_for_texts(programme), enrol_for_texts(programme)
    with clock("2027-01-05T15:00"):
        bad = reminder(broken, at=dt.time(9, 0), on=dt.date(2027, 1, 5), body="Fictional pill.")
    ciphertext = bytearray(bytes(bad.body_ciphertext))
    ciphertext[-1] ^= 0xFF
    Reminder.objects.filter(pk=bad.pk).update(body_ciphertext=bytes(ciphertext))

    result = dispatch(DAY_1)

    assert result.outcomes == Counter({"failed": 1, SendOutcome.SENT: 2})
    (row,) = reminder_rows(broken)
    assert (row.state, row.due_at, row.seq) == (SendState.SCHEDULED, DAY_1 + RETRY_AFTER, 1)
    assert not SendRecord.objects.filter(pending_send=row).exists()
    assert sent_texts(broken, Stream.SUPPORTIVE) == [text(1)]
    assert sent_texts(fine) == [text(1)]


def test_a_row_whose_write_fails_waits_alone_and_the_rest_of_the_batch_is_sent() -> None:
    with clock(ENROLLED):
        programme = text_programme(arms=(*TEXTS_ONLY, *PEER_AND_TEXTS))
        blocked = enrol_in_arm(programme, "peer_support_texts")
        fine = enrol_in_arm(programme, "peer_support_texts")
        also_fine = enrol_in_arm(programme, "texts")
    row = supportive(blocked)
    # A record for this send already stands (the send's idempotency key): the batch's
    # write fails on it, and the text must not go a second time.
    SendRecord.objects.create(
        pending_send=row,
        seq=row.seq,
        slot_date=row.slot_date,
        slot_index=row.slot_index,
        due_at=row.due_at,
        outcome=SendOutcome.SENT,
        handled_at=DAY_1,
    )

    due = PendingSend.objects.filter(due_at=DAY_1).count()  # allocation may enrol extra people

    result = dispatch(DAY_1)

    assert result.outcomes == Counter({"failed": 1, SendOutcome.SENT: due - 1})
    row.refresh_from_db()
    assert (row.state, row.due_at, row.seq) == (SendState.SCHEDULED, DAY_1 + RETRY_AFTER, 1)
    assert automated_bodies(blocked) == []
    assert automated_outbox(blocked) == []
    for enrolment in (fine, also_fine):
        assert sent_texts(enrolment) == [text(1)]
        assert supportive(enrolment).due_at == DAY_2


def test_the_dispatch_due_command_prints_a_summary_and_sends_as_the_function_does() -> None:
    with clock(ENROLLED):
        programme = text_programme()
        by_command, by_function = enrol_for_texts(programme), enrol_for_texts(programme)
    PendingSend.objects.filter(enrolment=by_function).update(due_at=DAY_1 + MINUTE)
    out = io.StringIO()

    with clock(DAY_1):
        call_command("dispatch_due", stdout=out)
    with clock(DAY_1 + MINUTE):
        dispatch_due()

    assert out.getvalue().splitlines() == ["Handled 1: sent 1.", "Surveys: handled 0: none due."]
    for enrolment in (by_command, by_function):
        assert outcomes(enrolment) == [SendOutcome.SENT]
        assert sent_texts(enrolment) == [text(1)]
        assert supportive(enrolment).due_at == DAY_2
    assert SmsOutbox.objects.filter(template=OutboxTemplate.SCHEDULED).count() == 2


def test_the_dispatch_due_command_says_when_nothing_is_due() -> None:
    enrolled()
    out = io.StringIO()

    with clock(DAY_1 - MINUTE):
        call_command("dispatch_due", stdout=out)

    assert out.getvalue().splitlines() == ["Handled 0: none due.", "Surveys: handled 0: none due."]


def test_a_time_boxed_tick_stops_and_leaves_the_rest_for_the_next_one() -> None:
    enrolment = enrolled()
    with clock(DAY_1):
        assert dispatch_due(max_seconds=0).handled == 0
        assert supportive(enrolment).due_at == DAY_1
        assert dispatch_due(max_seconds=60).handled == 1


def test_the_beat_runs_the_dispatcher_every_minute_and_drops_a_tick_left_queued() -> None:
    from django.conf import settings

    (entry,) = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "scheduling.dispatch_due"
    ]
    assert entry["schedule"] == 60.0
    assert entry["options"]["expires"] < 60.0
