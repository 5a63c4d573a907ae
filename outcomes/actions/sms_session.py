"""An SMS survey session, one question at a time (DESIGN.md §3, data flows 2 and 5).

Registered as an inbound handler (messaging/sms/inbound.py): reserved keywords have already
won (STOP, START, HELP never reach here). A text that answers the waiting question, by the
option's value or its words, is taken: stored, and the next question (or the thanks) goes
back. Anything else is not taken, so it also goes into the person's conversation as any
text does (nothing they say is lost), and, when it reads as a try at an answer and comes
within two hours of the survey's last text, the question is asked again with how to answer,
up to three times; after that
the session pauses and a reminder follows later. A paused session takes a valid answer and
carries on where it stopped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from messaging.risk.detection import screen
from messaging.risk.lexicon import lexicons_for
from outcomes.actions.answers import complete_session, record_answers, session_spec
from outcomes.actions.prompts import text_prompt
from outcomes.instrument_format import InstrumentSpec, normalise_answer
from outcomes.models import PromptKind, SessionState, SurveySession
from outcomes.planning import REPLY_STALENESS, next_reminder_at
from outcomes.selectors import answers_of, open_sms_session
from people.models import Participant
from scheduling.planning import PersonTiming

REASK_LIMIT = 3
# A text long after the last survey text is a message, not a poor answer: someone who was
# invited this morning and writes to their peer tonight is not told their words can't be read.
REASK_WINDOW = dt.timedelta(hours=2)
# Longer than this (without a digit), a text reads as a message, not as a try at an answer.
ANSWER_LIKE_WORDS = 3


def looks_like_an_answer(body: str, languages: list[str]) -> bool:
    """Whether a text that is not an answer was meant as one (a number, a word or two), so
    that re-asking helps. A sentence to the peer supporter, or anything that screens as a
    crisis, is not answered with "we could not read that"."""
    words = normalise_answer(body).split()
    if not words:
        return True  # a picture, or nothing: they replied, so say how to answer
    if len(words) > ANSWER_LIKE_WORDS and not any(c.isdigit() for c in body):
        return False
    return not screen(body, lexicons_for(languages)).is_risk


def read_answer(spec: InstrumentSpec, item_key: str, body: str, language: str) -> int | None:
    """The option value a text chooses for the item, or None when it chooses none (or more
    than one: an answer is never guessed)."""
    words = normalise_answer(body)
    if not words:
        return None
    item = spec.item(item_key)
    chosen = {o.value for o in item.options if words in o.accepted(language)}
    if not chosen and language != spec.languages[0]:
        chosen = {o.value for o in item.options if words in o.accepted(spec.languages[0])}
    return chosen.pop() if len(chosen) == 1 else None


def next_unanswered(spec: InstrumentSpec, answered: set[str]) -> str | None:
    return next((item.key for item in spec.items if item.key not in answered), None)


def _reply_expiry(now: dt.datetime) -> dt.datetime:
    return now + REPLY_STALENESS


def _answered(session: SurveySession, value: int, *, now: dt.datetime) -> None:
    spec = session_spec(session)
    record_answers(session=session, answers={session.current_item: value}, source="sms", now=now)
    session.invalid_answers = 0
    following = next_unanswered(spec, set(answers_of(session)))
    if following is None:
        text_prompt(session=session, kind=PromptKind.THANKS, expires_at=_reply_expiry(now))
        complete_session(session=session, now=now)
        _invite_next_soon(session, now=now)
        return
    session.state = SessionState.IN_PROGRESS
    session.current_item = following
    text_prompt(
        session=session, kind=PromptKind.ITEM, item_key=following, expires_at=_reply_expiry(now)
    )
    schedule = session.timepoint.schedule
    person = PersonTiming.of(session.enrolment.participant)
    session.next_action_at = next_reminder_at(session, schedule, person)
    session.save()


def _not_an_answer(session: SurveySession, body: str, *, now: dt.datetime) -> None:
    if session.state == SessionState.PAUSED:
        return  # paused: no more asking until the reminder
    if session.last_activity_at is None or now - session.last_activity_at > REASK_WINDOW:
        return
    if not looks_like_an_answer(body, [session.language or "en"]):
        return
    session.invalid_answers += 1
    session.last_activity_at = now
    if session.invalid_answers <= REASK_LIMIT:
        text_prompt(
            session=session,
            kind=PromptKind.REASK,
            item_key=session.current_item,
            expires_at=_reply_expiry(now),
        )
    else:
        session.state = SessionState.PAUSED
        text_prompt(session=session, kind=PromptKind.PAUSED, expires_at=_reply_expiry(now))
    schedule = session.timepoint.schedule
    session.next_action_at = next_reminder_at(
        session, schedule, PersonTiming.of(session.enrolment.participant)
    )
    session.save()


def _invite_next_soon(session: SurveySession, *, now: dt.datetime) -> None:
    """The person's next survey by SMS that is already open waits for this one to end: it
    goes at the dispatcher's next tick."""
    # Only rows nobody holds, and none waited for: a STOP locking the person's sessions
    # meanwhile must not deadlock with this (it is only a speed-up; the tick finds the rest).
    ready = list(
        SurveySession.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            enrolment__participant_id=session.enrolment.participant_id,
            state=SessionState.PLANNED,
            opens_at__lte=now,
            closes_at__gt=now,
        )
        .values_list("pk", flat=True)
    )
    SurveySession.objects.filter(pk__in=ready).update(next_action_at=now)


def take_survey_answer(*, participant: Participant, text: Any, **_: Any) -> bool:
    """The inbound handler: True when the text answered the waiting question (it is then the
    survey's, not the conversation's)."""
    now = timezone.now()
    session = open_sms_session(participant.pk, now=now)
    if session is None or not session.current_item:
        return False
    session.enrolment.participant = participant
    value = read_answer(session_spec(session), session.current_item, text.body, session.language)
    if value is None:
        _not_an_answer(session, text.body, now=now)
        return False
    _answered(session, value, now=now)
    return True
