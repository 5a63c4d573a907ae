"""The demo programme's surveys (`seed_demo`, local profile only).

Baseline (PHQ-9 and GAD-7) and the usual follow-ups. One demo person, Morgan (on SMS), has
no quiet hours of their own and the demo schedule none either, so that the demo works at
whatever hour it is run: their PHQ-9 goes by SMS (answer it with `simulate_sms`) and their
GAD-7 by a web link (texted to them: it is printed on the console). Everyone else keeps the
usual 21:00-08:00 quiet hours, so the demo also shows those holding."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from outcomes.dispatch import dispatch_surveys
from outcomes.links import survey_url
from outcomes.models import SurveyLink, SurveySession
from outcomes.services import configure_survey_schedule, default_timepoints, switch_to_web_link
from people.models import User
from people.selectors import find_participant_by_phone
from people.services import update_timing_preferences
from programmes.models import Programme

DEMO_SURVEY_PHONE = "+17805550102"  # Morgan Demo (fictional)
MIDNIGHT = dt.time(0, 0)


@transaction.atomic
def seed_demo_surveys(*, programme: Programme, admin: User | None) -> None:
    morgan = find_participant_by_phone(DEMO_SURVEY_PHONE)
    assert morgan is not None, "seed_demo enrols Morgan first"
    update_timing_preferences(
        participant=morgan, changed_by=admin, quiet_hours_start=MIDNIGHT, quiet_hours_end=MIDNIGHT
    )
    configure_survey_schedule(
        programme=programme,
        changed_by=admin,
        timepoints=default_timepoints(["phq9", "gad7"]),
        quiet_hours_start=MIDNIGHT,
        quiet_hours_end=MIDNIGHT,
    )
    gad7 = SurveySession.objects.get(
        enrolment__participant=morgan,
        enrolment__programme=programme,
        timepoint__code="baseline",
        instrument_slug="gad7",
    )
    switch_to_web_link(session_id=gad7.pk, by=admin)
    # The baseline opened at enrolment: invite now, so that the console shows it at once.
    dispatch_surveys()


def demo_surveys_summary(slug: str) -> list[str]:
    """Lines for seed_demo's console: how to answer the demo surveys."""
    link = (
        SurveyLink.objects.filter(
            session__enrolment__programme__slug=slug, session__instrument_slug="gad7"
        )
        .order_by("created_at")
        .first()
    )
    lines = [
        "  surveys: Morgan Demo's baseline PHQ-9 is texted to them (on this console); answer "
        "it in another terminal, one question at a time:",
        f'    .venv/bin/python manage.py simulate_sms --from {DEMO_SURVEY_PHONE} "1"',
        "    an answer above 0 to question 9 raises a risk alert: demo-supervisor sees it at "
        "GET /api/v1/risk-alerts/ (and live on their socket).",
    ]
    if link is not None and link.used_at is None:
        lines.append(f"  their GAD-7 is a web link: {survey_url(link.pk)}")
    lines.append(
        "  completion so far: GET /api/v1/programmes/demo/survey-metrics/ (demo-supervisor, "
        "demo-admin or demo-evaluator)."
    )
    return lines
