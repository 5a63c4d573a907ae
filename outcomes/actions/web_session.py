"""The web form of a survey session (DESIGN.md §3, data flow 5): answers saved as the person
goes, validated per item; submitting a complete form scores it and uses the link up.

A link works until its form is submitted or its session's window closes; a link that is
used, expired or whose session ended (STOP does not end a web session; withdrawal does)
is refused with what happened, never with the session's content."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from outcomes.actions.answers import complete_session, record_answers, session_spec
from outcomes.models import OPEN_STATES, SessionState, SurveyLink, SurveySession
from outcomes.planning import next_reminder_at
from outcomes.scoring import tripped_rules
from outcomes.selectors import answers_of
from scheduling.planning import PersonTiming


class LinkProblem(enum.StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    CLOSED = "closed"


class LinkRefused(Exception):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def _check(link: SurveyLink | None, *, now: dt.datetime) -> SurveyLink:
    if link is None:
        raise LinkRefused(LinkProblem.UNKNOWN)
    if link.used_at is not None:
        raise LinkRefused(LinkProblem.USED)
    if now >= link.expires_at or now >= link.session.closes_at:
        raise LinkRefused(LinkProblem.EXPIRED)
    if link.session.state not in OPEN_STATES:
        raise LinkRefused(LinkProblem.CLOSED)
    return link


def usable_link(link_id: uuid.UUID | None) -> SurveyLink:
    """The link and its session, when the form may be shown; LinkRefused says why not."""
    query = SurveyLink.objects.select_related(
        "session__instrument", "session__enrolment__programme"
    )
    link = query.filter(pk=link_id).first() if link_id is not None else None
    return _check(link, now=timezone.now())


@dataclass(frozen=True)
class WebSave:
    completed: bool
    missing: tuple[str, ...]  # required items still unanswered (on submit)
    risk_fired: bool


def required_items(session: SurveySession) -> tuple[str, ...]:
    """Every scored item must be answered to submit; unscored ones (PHQ-9's item 10) may be
    left out."""
    return tuple(item.key for item in session_spec(session).items if item.scored)


def save_web_answers(*, link_id: uuid.UUID, answers: Mapping[str, int], submit: bool) -> WebSave:
    """Store the form's answers (already checked against the items by the form; scoring
    checks them again), and on submit with every required item answered, complete the
    session and use the link up."""
    now = timezone.now()
    with transaction.atomic():
        link = _check(
            SurveyLink.objects.select_for_update(of=("self",))
            .select_related("session")
            .filter(pk=link_id)
            .first(),
            now=now,
        )
        session = (
            SurveySession.objects.select_for_update(of=("self",))
            .select_related(
                "instrument",
                "enrolment__programme",
                "enrolment__participant",
                "timepoint__schedule",
            )
            .get(pk=link.session_id)
        )
        if session.state not in OPEN_STATES:
            raise LinkRefused(LinkProblem.CLOSED)
        if answers:
            record_answers(session=session, answers=answers, source="web", now=now)
            session.state = SessionState.IN_PROGRESS
            # The next reminder counts from this save, as from an SMS answer.
            session.next_action_at = next_reminder_at(
                session, session.timepoint.schedule, PersonTiming.of(session.enrolment.participant)
            )
            session.save()
        given = answers_of(session)
        missing = tuple(key for key in required_items(session) if key not in given)
        risk_fired = bool(tripped_rules(session_spec(session), given))
        if submit and not missing:
            complete_session(session=session, now=now)
            link.used_at = now
            link.save(update_fields=["used_at"])
            return WebSave(True, (), risk_fired)
        return WebSave(False, missing if submit else (), risk_fired)
