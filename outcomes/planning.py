"""When a survey opens and when its next reminder is due, in the person's own time zone.

Reads only, no writes: the same time rules as the supportive texts (scheduling/timing.py: a
local time in a DST gap moves to the first valid minute, an ambiguous one takes its first
occurrence, nothing goes in quiet hours, the person's or the programme's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from outcomes.models import SessionState, SurveySchedule, SurveySession, SurveyTimepoint
from programmes.models import Enrolment
from scheduling.planning import PersonTiming
from scheduling.timing import QuietWindow, SlotRules, out_of_quiet_hours, slot_due, to_utc, zone

# An invitation or reminder still unsent this long after it was due (an outage, a provider
# down) is not sent: the next reminder or the close of the window takes over.
PROMPT_STALENESS = dt.timedelta(hours=3)
# A reply to the person's own answer (the next question) goes at once, quiet hours or not:
# they are texting us. It is not sent later than this.
REPLY_STALENESS = dt.timedelta(minutes=30)


def survey_quiet(schedule: SurveySchedule, person: PersonTiming) -> tuple[QuietWindow, ...]:
    windows = (
        QuietWindow(person.quiet_start, person.quiet_end),
        QuietWindow(schedule.quiet_hours_start, schedule.quiet_hours_end),
    )
    return tuple(w for w in windows if w.start != w.end)


def first_allowed(
    moment: dt.datetime, *, tz_name: str, quiet: tuple[QuietWindow, ...]
) -> dt.datetime:
    """`moment`, or the end of the quiet hours that hold it (UTC in, UTC out)."""
    local = moment.astimezone(zone(tz_name)).replace(tzinfo=None)
    allowed = out_of_quiet_hours(local, quiet)
    if allowed == local:
        return moment
    return to_utc(allowed, tz_name)


@dataclass(frozen=True)
class Window:
    opens_at: dt.datetime
    closes_at: dt.datetime


def timepoint_window(
    timepoint: SurveyTimepoint,
    *,
    schedule: SurveySchedule,
    enrolled_at: dt.datetime,
    person: PersonTiming,
) -> Window:
    """The timepoint opens `offset_days` after the enrolment's local date at the schedule's
    send time (out of quiet hours); a baseline whose send time has already passed on the day
    of enrolment opens at enrolment. It stays open `window_days`."""
    quiet = survey_quiet(schedule, person)
    day = enrolled_at.astimezone(zone(person.time_zone)).date() + dt.timedelta(
        days=timepoint.offset_days
    )
    rules = SlotRules(person.time_zone, (schedule.send_time,), day, day, quiet)
    opens_at = slot_due(rules, day, 0)
    if opens_at < enrolled_at:
        opens_at = first_allowed(enrolled_at, tz_name=person.time_zone, quiet=quiet)
    return Window(opens_at, opens_at + dt.timedelta(days=timepoint.window_days))


def planned_sessions(
    enrolment: Enrolment, schedule: SurveySchedule, timepoints: list[SurveyTimepoint]
) -> list[SurveySession]:
    """The enrolment's sessions, one per timepoint and instrument, unsaved."""
    person = PersonTiming.of(enrolment.participant)
    sessions = []
    for timepoint in timepoints:
        window = timepoint_window(
            timepoint, schedule=schedule, enrolled_at=enrolment.enrolled_at, person=person
        )
        for position, slug in enumerate(timepoint.instruments):
            sessions.append(
                SurveySession(
                    enrolment=enrolment,
                    timepoint=timepoint,
                    instrument_slug=slug,
                    position=position,
                    state=SessionState.PLANNED,
                    opens_at=window.opens_at,
                    closes_at=window.closes_at,
                    next_action_at=window.opens_at,
                )
            )
    return sessions


def next_reminder_at(
    session: SurveySession, schedule: SurveySchedule, person: PersonTiming
) -> dt.datetime:
    """When the dispatcher next looks at an open session: its next reminder (the interval
    after the last thing that happened in it, out of quiet hours), or the close of its window
    when no reminder is left (a paused session always has one) or the next would fall after
    it."""
    if session.last_activity_at is None:
        return session.closes_at
    # A pause promises a reminder ("we will text you again later"), whatever were sent.
    if session.reminders_sent >= schedule.reminder_count and session.state != SessionState.PAUSED:
        return session.closes_at
    due = session.last_activity_at + dt.timedelta(hours=schedule.reminder_interval_hours)
    due = first_allowed(due, tz_name=person.time_zone, quiet=survey_quiet(schedule, person))
    return min(due, session.closes_at)
