"""The export benchmark's world: the scheduler benchmark's people (bench/schedbench), each
with research consent, an age band and a gender, and a completed PHQ-9 and GAD-7 at two
timepoints: 34 item answers per person, so N responses are N / 34 people.

Bulk SQL, not the services (as schedbench_world.py explains): the rows are what the
services would have written. Seeding is not what is measured.
"""

from __future__ import annotations

import datetime as dt
import math

import schedbench_world
from django.db import connection

from outcomes.models import SurveySchedule, SurveyTimepoint
from outcomes.selectors import newest_instrument, spec_of
from programmes.models import AgeBand, Gender, Programme

TIMEPOINTS = (("baseline", "Baseline", 0), ("week6", "6 weeks", 42))
INSTRUMENTS = ("phq9", "gad7")
AGE_BANDS = [value for value, _ in AgeBand.choices]
GENDERS = [value for value, _ in Gender.choices]


def answers_per_person() -> int:
    items = sum(len(spec_of(newest_instrument(slug)).items) for slug in INSTRUMENTS)  # type: ignore[arg-type]
    return items * len(TIMEPOINTS)


def seed(responses: int, now: dt.datetime) -> tuple[Programme, int]:
    people = math.ceil(responses / answers_per_person())
    world = schedbench_world.seed(people, now)
    programme = world.programme
    schedule = SurveySchedule.objects.create(programme=programme)
    timepoints = [
        SurveyTimepoint.objects.create(
            schedule=schedule,
            code=code,
            label=label,
            offset_days=offset,
            window_days=14,
            instruments=list(INSTRUMENTS),
        )
        for code, label, offset in TIMEPOINTS
    ]
    instruments = {slug: newest_instrument(slug) for slug in INSTRUMENTS}
    items = [
        (slug, item.key)
        for slug in INSTRUMENTS
        for item in spec_of(instruments[slug]).items  # type: ignore[arg-type]
    ]
    params = {
        "programme": programme.pk,
        "now": now,
        "ages": AGE_BANDS,
        "age_count": len(AGE_BANDS),
        "genders": GENDERS,
        "gender_count": len(GENDERS),
        "tp_ids": [tp.pk for tp in timepoints],
        "tp_offsets": [tp.offset_days for tp in timepoints],
        "slugs": list(INSTRUMENTS),
        "instrument_ids": [instruments[slug].pk for slug in INSTRUMENTS],  # type: ignore[union-attr]
        "item_slugs": [slug for slug, _ in items],
        "item_keys": [key for _, key in items],
    }
    statements = [
        # Skewed like a real clinic: most people in a few bands, some rare combinations.
        "UPDATE programmes_enrolment SET "
        "age_band = (%(ages)s::text[])[1 + (allocation_number * 7 %% 11) %% %(age_count)s], "
        "gender = (%(genders)s::text[])[1 + (allocation_number * 5 %% 13) %% %(gender_count)s] "
        "WHERE programme_id = %(programme)s",
        "INSERT INTO people_consentrecord (kind, version, granted_at, granted_source, "
        "withdrawn_at, withdrawn_source, programme_id, recorded_by_id, participant_id) "
        "SELECT 'research', 'v1', e.enrolled_at, 'staff', NULL, '', e.programme_id, NULL, "
        "e.participant_id FROM programmes_enrolment e WHERE e.programme_id = %(programme)s",
        "INSERT INTO outcomes_surveysession (id, enrolment_id, timepoint_id, instrument_slug, "
        "instrument_id, position, channel, language, state, stop_reason, opens_at, closes_at, "
        "next_action_at, current_item, invalid_answers, reminders_sent, prompt_seq, "
        "invited_at, started_at, last_activity_at, completed_at, ended_at, updated_at) "
        "SELECT md5('bench-session-' || e.id || '-' || tp.id || '-' || i.slug)::uuid, e.id, "
        "tp.id, i.slug, i.instrument_id, i.position, 'sms', 'en', 'completed', '', "
        "e.enrolled_at + tp.offset_days * interval '1 day', "
        "e.enrolled_at + (tp.offset_days + 14) * interval '1 day', NULL, '', 0, 0, 0, "
        "e.enrolled_at + tp.offset_days * interval '1 day', "
        "e.enrolled_at + tp.offset_days * interval '1 day' + interval '2 hours', "
        "e.enrolled_at + tp.offset_days * interval '1 day' + interval '3 hours', "
        "e.enrolled_at + tp.offset_days * interval '1 day' + interval '3 hours', "
        "e.enrolled_at + tp.offset_days * interval '1 day' + interval '3 hours', %(now)s "
        "FROM programmes_enrolment e "
        "CROSS JOIN unnest(%(tp_ids)s::int[], %(tp_offsets)s::int[]) AS tp(id, offset_days) "
        "CROSS JOIN unnest(%(slugs)s::text[], %(instrument_ids)s::int[]) "
        "WITH ORDINALITY AS i(slug, instrument_id, position) "
        "WHERE e.programme_id = %(programme)s",
        "INSERT INTO outcomes_surveyanswer (session_id, item_key, value, source, answered_at) "
        "SELECT s.id, it.key, abs(hashtext(s.id::text || it.key)) %% 4, 'sms', s.completed_at "
        "FROM outcomes_surveysession s "
        "JOIN unnest(%(item_slugs)s::text[], %(item_keys)s::text[]) AS it(slug, key) "
        "ON it.slug = s.instrument_slug "
        "JOIN programmes_enrolment e ON e.id = s.enrolment_id "
        "WHERE e.programme_id = %(programme)s",
        "INSERT INTO outcomes_surveyresult (session_id, total, band, subscales, answered, "
        "complete, scored_at) "
        "SELECT a.session_id, sum(a.value) FILTER (WHERE a.item_key <> 'phq9_10'), "
        "CASE WHEN sum(a.value) < 5 THEN 'Minimal' WHEN sum(a.value) < 10 THEN 'Mild' "
        "ELSE 'Moderate' END, '{}'::jsonb, count(*), true, max(a.answered_at) "
        "FROM outcomes_surveyanswer a GROUP BY a.session_id",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)
        cursor.execute("SELECT count(*) FROM outcomes_surveyanswer")
        (answers,) = cursor.fetchone()  # type: ignore[misc]
        for table in (
            "programmes_enrolment",
            "people_consentrecord",
            "outcomes_surveysession",
            "outcomes_surveyanswer",
            "outcomes_surveyresult",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return programme, int(answers)
