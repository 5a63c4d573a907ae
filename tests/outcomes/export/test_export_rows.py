"""What the exported rows say and in what order: row order unrelated to the database's ids,
days between local dates, only surveys that were offered, opt-outs that were opt-outs, and
whose research consent counts. Exports at k = 2, with a second person where one is
needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from outcomes.export.keys import Pseudonymiser, export_key
from outcomes.export.services import ExportResult, export_programme
from outcomes.services import TimepointSpec
from people.models import ConsentKind, ConsentSource
from people.services import grant_consent, withdraw_consent
from programmes.models import Enrolment, EnrolmentStatus, Programme
from programmes.services import end_enrolment
from tests.outcomes.export.exports import read_rows
from tests.outcomes.surveys import enrol_at, survey_programme, tick
from tests.scheduling.texts import clock
from tests.support.factories import enrol, make_programme

pytestmark = pytest.mark.django_db

BASELINE_AND_WEEK6 = [
    TimepointSpec("baseline", "Baseline", 0, 14, ("phq9",)),
    TimepointSpec("week6", "6 weeks", 42, 14, ("phq9",)),
]


def _export(programme: Programme, out: Path) -> ExportResult:
    with clock("2027-03-01T18:00"):
        return export_programme(programme=programme, out_dir=out, k=2)


def _pid(enrolment: Enrolment) -> str:
    return Pseudonymiser(export_key(enrolment.programme.slug)).pid(str(enrolment.participant_id))


def _rows_of(result: ExportResult, table: str, enrolment: Enrolment) -> list[dict[str, str]]:
    return [r for r in read_rows(result.directory / table) if r["pid"] == _pid(enrolment)]


def _pids(result: ExportResult) -> list[str]:
    return [r["pid"] for r in read_rows(result.directory / "participants.csv")]


def test_rows_are_not_in_the_order_of_the_database_ids(tmp_path: Path) -> None:
    programme = make_programme()
    people = [enrol(programme, research_consent=True, peer_support=None) for _ in range(12)]
    by_id = [_pid(e) for e in sorted(people, key=lambda e: e.participant_id.hex)]
    first = _pids(_export(programme, tmp_path / "a"))
    second = _pids(_export(programme, tmp_path / "b"))
    assert sorted(first) == sorted(second) == sorted(by_id)
    assert first != by_id
    assert first != second, "each export orders its rows afresh"


def test_a_survey_stopped_before_it_opened_is_not_exported(tmp_path: Path) -> None:
    programme = survey_programme(timepoints=BASELINE_AND_WEEK6)
    leaving = enrol_at(programme, "2027-01-12T18:00", research_consent=True)
    enrol_at(programme, "2027-01-12T18:00", research_consent=True)
    tick("2027-01-12T18:05")
    with clock("2027-01-20T18:00"):
        end_enrolment(enrolment=leaving, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    rows = _rows_of(_export(programme, tmp_path / "x"), "survey_phq9.csv", leaving)
    # The baseline was offered (and stopped by the withdrawal); week 6 never opened.
    assert [(r["timepoint"], r["status"], r["instrument_version"]) for r in rows] == [
        ("baseline", "stopped", "1")
    ]


def test_days_count_local_calendar_days(tmp_path: Path) -> None:
    programme = make_programme()
    # 22:00 in Edmonton, and withdrawn at 08:00 the next morning: ten hours, but day 1.
    with clock("2027-01-13T05:00"):
        late = enrol(programme, research_consent=True, peer_support=None)
        enrol(programme, research_consent=True, peer_support=None)
    with clock("2027-01-13T15:00"):
        end_enrolment(enrolment=late, status=EnrolmentStatus.WITHDRAWN, ended_by=None)
    [row] = _rows_of(_export(programme, tmp_path / "x"), "participants.csv", late)
    assert (row["status"], row["exit_day"]) == ("withdrawn", "1")


def test_a_new_sms_consent_version_is_not_an_opt_out(tmp_path: Path) -> None:
    programme = make_programme()
    person = enrol(programme, research_consent=True, peer_support=None)
    enrol(programme, research_consent=True, peer_support=None)
    grant_consent(
        participant=person.participant, kind=ConsentKind.SMS, version="v2", source=ConsentSource.WEB
    )
    [row] = _rows_of(_export(programme, tmp_path / "a"), "participants.csv", person)
    assert row["opt_out_day"] == ""
    withdraw_consent(participant=person.participant, kind=ConsentKind.SMS, source=ConsentSource.SMS)
    [row] = _rows_of(_export(programme, tmp_path / "b"), "participants.csv", person)
    assert row["opt_out_day"] == "0"


def test_withdrawing_from_the_study_wins_over_a_general_research_consent(tmp_path: Path) -> None:
    programme = make_programme()
    person = enrol(programme, research_consent=True, peer_support=None)
    others = [enrol(programme, research_consent=True, peer_support=None) for _ in range(2)]
    grant_consent(
        participant=person.participant,
        kind=ConsentKind.RESEARCH,
        version="general-v1",
        source=ConsentSource.STAFF,
    )
    withdraw_consent(
        participant=person.participant,
        kind=ConsentKind.RESEARCH,
        source=ConsentSource.STAFF,
        programme=programme,
    )
    result = _export(programme, tmp_path / "x")
    assert sorted(_pids(result)) == sorted(_pid(e) for e in others)
    assert result.excluded_without_research_consent == 1


def test_a_general_research_consent_counts_where_the_study_has_no_record(tmp_path: Path) -> None:
    programme = make_programme()
    general = enrol(programme, peer_support=None)
    grant_consent(
        participant=general.participant,
        kind=ConsentKind.RESEARCH,
        version="general-v1",
        source=ConsentSource.STAFF,
    )
    enrol(programme, research_consent=True, peer_support=None)
    enrol(programme, peer_support=None)  # no research consent at all
    result = _export(programme, tmp_path / "x")
    assert _pid(general) in _pids(result)
    assert (result.participants, result.excluded_without_research_consent) == (2, 1)
