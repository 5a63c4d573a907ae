"""Reminders (issue 7): staff write one for a person, once or every day or week, at the
person's own local time; the dispatcher sends it (into their thread, or by SMS to a person
without one); its text is encrypted at rest; cancelling stops it; and every refusal gives its
error code and writes nothing.

Everyone here lives in America/Edmonton (UTC-7 in January): 14:00 local is 21:00 UTC.
2027-01-06 is a Wednesday. The clock stands still at explicit UTC instants; texts are
fictional."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from audit.models import AuditEntry
from messaging.models import OutboxTemplate
from peerlink.errors import Conflict, DomainError
from programmes.models import Enrolment, EnrolmentStatus
from programmes.services import ArmSpec, end_enrolment
from scheduling.models import (
    PendingSend,
    Recurrence,
    Reminder,
    ReminderKind,
    SendOutcome,
    SendState,
    StopReason,
    Stream,
)
from scheduling.selectors import reminder_text
from scheduling.services import MAX_REMINDER_CHARS, cancel_reminder, create_reminder
from tests.scheduling.texts import (
    PEER_AND_TEXTS,
    PEER_ONLY,
    SUPPORTIVE_ONLY,
    TEXTS_ONLY,
    automated_bodies,
    automated_outbox,
    clock,
    dispatch,
    enrol_for_texts,
    records,
    reminder_rows,
    sent_at,
    sent_texts,
    text_programme,
    utc,
)
from tests.support.factories import make_programme

pytestmark = pytest.mark.django_db

# Monday 2027-01-04, 11:00 in Edmonton; reminders are written at 13:00 local.
ENROLLED = "2027-01-04T18:00"
WRITTEN = "2027-01-04T20:00"
WEDNESDAY = dt.date(2027, 1, 6)
TWO_PM = dt.time(14, 0)
BODY = "Fictional reminder: your appointment at the north clinic is today at 15:30."


def at_two_pm(day: dt.date) -> dt.datetime:
    return utc(f"{day.isoformat()}T21:00")


def enrolled(arms: tuple[ArmSpec, ...] = TEXTS_ONLY) -> Enrolment:
    """A person in a programme without supportive texts scheduled: only reminders go."""
    with clock(ENROLLED):
        return enrol_for_texts(make_programme(arms=arms))


def remind(enrolment: Enrolment, **overrides: Any) -> Reminder:
    fields: dict[str, Any] = {
        "kind": ReminderKind.APPOINTMENT,
        "body": BODY,
        "local_time": TWO_PM,
        "first_date": WEDNESDAY,
        "recurrence": Recurrence.ONCE,
        "last_date": None,
    }
    fields.update(overrides)
    with clock(WRITTEN):
        return create_reminder(enrolment=enrolment, created_by=None, **fields)


def reminder_sends(enrolment: Enrolment) -> list[dt.datetime]:
    return sent_at(enrolment, Stream.REMINDER)


def dispatch_daily(first: dt.date, last: dt.date) -> None:
    """The dispatcher at 14:00 local on every day from `first` to `last`."""
    day = first
    while day <= last:
        dispatch(at_two_pm(day))
        day += dt.timedelta(days=1)


# --- Sending --------------------------------------------------------------------------------------


def test_a_once_reminder_is_due_at_the_persons_local_time() -> None:
    enrolment = enrolled()

    remind(enrolment)

    (row,) = reminder_rows(enrolment)
    assert (row.state, row.due_at) == (SendState.SCHEDULED, at_two_pm(WEDNESDAY))
    assert dispatch(at_two_pm(WEDNESDAY) - dt.timedelta(seconds=1)).handled == 0


def test_a_once_reminder_is_sent_by_sms_to_a_person_without_a_thread() -> None:
    enrolment = enrolled(TEXTS_ONLY)
    remind(enrolment)

    result = dispatch(at_two_pm(WEDNESDAY))

    assert result.outcomes == Counter({SendOutcome.SENT: 1})
    assert sent_texts(enrolment, Stream.REMINDER) == [BODY]
    (record,) = records(enrolment, Stream.REMINDER)
    (outbox,) = [o for o in automated_outbox(enrolment) if o.scheduled_send == record]
    assert outbox.template == OutboxTemplate.SCHEDULED


def test_a_once_reminder_goes_into_the_thread_of_a_person_with_one() -> None:
    enrolment = enrolled(PEER_AND_TEXTS)
    remind(enrolment)

    dispatch(at_two_pm(WEDNESDAY))

    assert BODY in automated_bodies(enrolment)
    assert sent_texts(enrolment, Stream.REMINDER) == [BODY]


def test_a_once_reminder_is_sent_once_and_then_finishes() -> None:
    enrolment = enrolled()
    remind(enrolment)
    dispatch(at_two_pm(WEDNESDAY))

    (row,) = reminder_rows(enrolment)
    assert (row.state, row.due_at) == (SendState.FINISHED, None)
    dispatch_daily(WEDNESDAY, dt.date(2027, 1, 9))
    assert reminder_sends(enrolment) == [at_two_pm(WEDNESDAY)]


def test_a_reminder_text_is_encrypted_at_rest() -> None:
    enrolment = enrolled()

    reminder = remind(enrolment)

    stored = bytes(Reminder.objects.get(pk=reminder.pk).body_ciphertext)
    assert BODY.encode() not in stored
    assert b"north clinic" not in stored
    assert reminder_text(Reminder.objects.get(pk=reminder.pk)) == BODY


def test_a_daily_reminder_goes_every_day_up_to_its_last_date() -> None:
    enrolment = enrolled()
    remind(enrolment, recurrence=Recurrence.DAILY, last_date=dt.date(2027, 1, 8))

    dispatch_daily(WEDNESDAY, dt.date(2027, 1, 10))

    assert reminder_sends(enrolment) == [
        at_two_pm(WEDNESDAY),
        at_two_pm(dt.date(2027, 1, 7)),
        at_two_pm(dt.date(2027, 1, 8)),
    ]
    assert sent_texts(enrolment, Stream.REMINDER) == [BODY] * 3
    assert reminder_rows(enrolment)[0].state == SendState.FINISHED


def test_a_weekly_reminder_goes_only_on_its_weekday() -> None:
    enrolment = enrolled()
    remind(enrolment, recurrence=Recurrence.WEEKLY, last_date=dt.date(2027, 1, 27))

    dispatch_daily(WEDNESDAY, dt.date(2027, 2, 7))

    sends = reminder_sends(enrolment)
    assert sends == [at_two_pm(dt.date(2027, 1, d)) for d in (6, 13, 20, 27)]
    assert {s.astimezone(dt.timezone(dt.timedelta(hours=-7))).weekday() for s in sends} == {2}


def test_a_daily_reminder_keeps_its_local_time_across_the_spring_forward() -> None:
    with clock("2027-03-12T18:00"):
        enrolment = enrol_for_texts(make_programme(arms=TEXTS_ONLY))
        create_reminder(
            enrolment=enrolment,
            kind=ReminderKind.MEDICATION,
            body="Fictional reminder: the evening tablet.",
            local_time=TWO_PM,
            first_date=dt.date(2027, 3, 13),
            recurrence=Recurrence.DAILY,
            last_date=dt.date(2027, 3, 15),
            created_by=None,
        )
    # 14:00 MST is 21:00 UTC; from 2027-03-14, 14:00 MDT is 20:00 UTC.
    sends = [utc("2027-03-13T21:00"), utc("2027-03-14T20:00"), utc("2027-03-15T20:00")]

    for due in sends:
        assert reminder_rows(enrolment)[0].due_at == due
        assert dispatch(due).outcomes == Counter({SendOutcome.SENT: 1})

    assert reminder_sends(enrolment) == sends


def test_a_reminder_goes_alongside_the_programmes_supportive_texts() -> None:
    with clock(ENROLLED):
        enrolment = enrol_for_texts(text_programme(arms=TEXTS_ONLY, send_times=["14:00"]))
    remind(enrolment)
    dispatch(at_two_pm(dt.date(2027, 1, 5)))  # the first supportive text

    result = dispatch(at_two_pm(WEDNESDAY))

    assert result.outcomes == Counter({SendOutcome.SENT: 2})
    assert sent_texts(enrolment, Stream.REMINDER) == [BODY]
    assert sent_texts(enrolment, Stream.SUPPORTIVE)[-1] == "Fictional general text 2 (en)."


def test_a_reminder_in_the_programmes_own_quiet_hours_is_refused() -> None:
    with clock(ENROLLED):
        programme = text_programme(
            arms=TEXTS_ONLY, quiet_hours_start=dt.time(12, 0), quiet_hours_end=dt.time(13, 0)
        )
        enrolment = enrol_for_texts(programme)

    with pytest.raises(DomainError) as refused:
        remind(enrolment, local_time=dt.time(12, 30))

    assert refused.value.code == "reminder_in_quiet_hours"
    assert written() == (0, 0, 0)


def test_a_reminder_for_later_today_is_due_today() -> None:
    enrolment = enrolled()

    remind(enrolment, first_date=dt.date(2027, 1, 4), local_time=dt.time(16, 0))

    assert reminder_rows(enrolment)[0].due_at == utc("2027-01-04T23:00")


def test_a_reminder_of_the_longest_length_is_accepted() -> None:
    enrolment = enrolled()

    reminder = remind(enrolment, body="x" * MAX_REMINDER_CHARS)

    assert reminder_text(reminder) == "x" * MAX_REMINDER_CHARS


# --- Cancelling -----------------------------------------------------------------------------------


def test_a_cancelled_reminder_is_not_sent() -> None:
    enrolment = enrolled()
    reminder = remind(enrolment)

    with clock("2027-01-05T18:00"):
        cancel_reminder(reminder=reminder, by=None)

    (row,) = reminder_rows(enrolment)
    assert (row.state, row.stop_reason, row.due_at) == (
        SendState.STOPPED,
        StopReason.CANCELLED,
        None,
    )
    assert dispatch(at_two_pm(WEDNESDAY)).handled == 0
    assert records(enrolment, Stream.REMINDER) == []


def test_cancelling_a_daily_reminder_stops_the_rest() -> None:
    enrolment = enrolled()
    reminder = remind(enrolment, recurrence=Recurrence.DAILY, last_date=dt.date(2027, 1, 10))
    dispatch(at_two_pm(WEDNESDAY))

    with clock("2027-01-06T22:00"):
        cancel_reminder(reminder=reminder, by=None)
    dispatch_daily(dt.date(2027, 1, 7), dt.date(2027, 1, 10))

    assert reminder_sends(enrolment) == [at_two_pm(WEDNESDAY)]
    assert Reminder.objects.get(pk=reminder.pk).cancelled_at == utc("2027-01-06T22:00")


def test_cancelling_twice_changes_nothing() -> None:
    enrolment = enrolled()
    reminder = remind(enrolment)
    with clock("2027-01-05T18:00"):
        cancel_reminder(reminder=reminder, by=None)

    with clock("2027-01-05T19:00"):
        again = cancel_reminder(reminder=reminder, by=None)

    assert again.cancelled_at == utc("2027-01-05T18:00")


# --- Refusals -------------------------------------------------------------------------------------

REFUSALS = {
    "first-date-past": ({"first_date": dt.date(2027, 1, 3)}, "invalid_reminder_date"),
    "once-today-time-passed": (
        {"first_date": dt.date(2027, 1, 4), "local_time": dt.time(9, 0)},
        "invalid_reminder_date",
    ),
    "evening-quiet-hours": ({"local_time": dt.time(22, 0)}, "reminder_in_quiet_hours"),
    "morning-quiet-hours": ({"local_time": dt.time(7, 30)}, "reminder_in_quiet_hours"),
    "empty": ({"body": ""}, "invalid_reminder_text"),
    "blank": ({"body": "   \n "}, "invalid_reminder_text"),
    "too-long": ({"body": "x" * (MAX_REMINDER_CHARS + 1)}, "invalid_reminder_text"),
    "recurring-without-last-date": (
        {"recurrence": Recurrence.DAILY, "last_date": None},
        "invalid_reminder_date",
    ),
    "last-date-too-far": (
        {"recurrence": Recurrence.WEEKLY, "last_date": WEDNESDAY + dt.timedelta(days=367)},
        "invalid_reminder_date",
    ),
    "last-date-before-first": (
        {"recurrence": Recurrence.DAILY, "last_date": WEDNESDAY - dt.timedelta(days=1)},
        "invalid_reminder_date",
    ),
    "unknown-kind": ({"kind": "birthday"}, "invalid_reminder"),
    "unknown-recurrence": ({"recurrence": "monthly"}, "invalid_reminder"),
}


def written() -> tuple[int, int, int]:
    return (
        Reminder.objects.count(),
        PendingSend.objects.filter(stream=Stream.REMINDER).count(),
        AuditEntry.objects.filter(action="reminder.created").count(),
    )


@pytest.mark.parametrize(("overrides", "code"), REFUSALS.values(), ids=REFUSALS)
def test_a_bad_reminder_is_refused_with_its_code_and_writes_nothing(
    overrides: dict[str, Any], code: str
) -> None:
    enrolment = enrolled()

    with pytest.raises(DomainError) as refused:
        remind(enrolment, **overrides)

    assert refused.value.code == code
    assert written() == (0, 0, 0)


def test_a_reminder_for_an_ended_enrolment_is_refused_and_writes_nothing() -> None:
    enrolment = enrolled()
    with clock(ENROLLED):
        end_enrolment(enrolment=enrolment, status=EnrolmentStatus.COMPLETED, ended_by=None)
    enrolment.refresh_from_db()

    with pytest.raises(Conflict) as refused:
        remind(enrolment)

    assert refused.value.code == "enrolment_ended"
    assert written() == (0, 0, 0)


@pytest.mark.parametrize("arms", [PEER_ONLY, SUPPORTIVE_ONLY], ids=["peer-only", "texts-only"])
def test_a_reminder_for_an_arm_without_reminders_is_refused_and_writes_nothing(
    arms: tuple[ArmSpec, ...],
) -> None:
    enrolment = enrolled(arms)

    with pytest.raises(DomainError) as refused:
        remind(enrolment)

    assert refused.value.code == "not_in_arm"
    assert written() == (0, 0, 0)
