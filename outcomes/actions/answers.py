"""Answers in, scores out: shared by the SMS session and the web form.

A risk rule fires as soon as its item is answered (PHQ-9 item 9 above 0 by default), not at
the end of the survey: a person who stops after item 9 has still told us. It opens (or
joins) the person's risk alert through the safety hook, once per session and item."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db import transaction

from messaging.risk.models import SignalSource
from messaging.risk.services import raise_signal
from outcomes.actions.prompts import cancel_waiting_prompts
from outcomes.instrument_format import InstrumentSpec
from outcomes.models import (
    AnswerSource,
    SessionState,
    SurveyAnswer,
    SurveyResult,
    SurveySession,
)
from outcomes.scoring import score, tripped_rules
from outcomes.selectors import answers_of, spec_of


def session_spec(session: SurveySession) -> InstrumentSpec:
    assert session.instrument is not None, "a session has its instrument once invited"
    return spec_of(session.instrument)


def record_answers(
    *, session: SurveySession, answers: Mapping[str, int], source: str, now: dt.datetime
) -> None:
    """Store (or correct) answers to items of the locked session: each must be one of its
    item's values (scoring.InvalidAnswer if not, and nothing is written). Risk rules on the
    items answered fire here."""
    if source not in AnswerSource.values:
        raise ValueError(f"unknown answer source {source!r}")
    spec = session_spec(session)
    fired = tripped_rules(spec, answers)
    with transaction.atomic():
        for key, value in answers.items():
            SurveyAnswer.objects.update_or_create(
                session=session,
                item_key=key,
                defaults={"value": value, "source": source, "answered_at": now},
            )
        if session.started_at is None:
            session.started_at = now
        session.last_activity_at = now
        for rule in fired:
            raise_signal(
                source=SignalSource.SURVEY,
                source_key=f"survey:{session.pk}:{rule.item}",
                severity=rule.severity,
                categories=rule.categories,
                enrolment=session.enrolment,
            )


def _write_result(session: SurveySession, *, now: dt.datetime) -> SurveyResult | None:
    answers = answers_of(session)
    if not answers:
        return None
    result = score(session_spec(session), answers)
    stored, _ = SurveyResult.objects.update_or_create(
        session=session,
        defaults={
            "total": result.total.value,
            "band": result.band or "",
            "subscales": {s.key: s.value for s in result.subscales},
            "answered": len(answers),
            "complete": result.complete,
            "scored_at": now,
        },
    )
    return stored


def complete_session(*, session: SurveySession, now: dt.datetime) -> SurveyResult | None:
    """Every item answered (or the web form submitted): score it and close it."""
    session.state = SessionState.COMPLETED
    session.completed_at = session.ended_at = now
    session.next_action_at = None
    session.current_item = ""
    session.save()
    return _write_result(session, now=now)


def expire_session(*, session: SurveySession, now: dt.datetime) -> SurveyResult | None:
    """The window closed first: what was answered is kept and scored, marked incomplete."""
    cancel_waiting_prompts(session=session)
    session.state = SessionState.EXPIRED
    session.ended_at = now
    session.next_action_at = None
    session.save()
    return _write_result(session, now=now)


def stop_session(*, session: SurveySession, reason: str, now: dt.datetime) -> None:
    cancel_waiting_prompts(session=session)
    session.state = SessionState.STOPPED
    session.stop_reason = reason
    session.ended_at = now
    session.next_action_at = None
    session.save()
