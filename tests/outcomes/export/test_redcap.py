"""The REDCap option: one flat file with record_id first, an event per timepoint, lowercase
variable names, <form>_complete as 0/1/2, and the dictionary, events and designations that
let REDCap import it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from outcomes.demo import DEMO_SURVEY_PHONE
from outcomes.export.keys import Pseudonymiser, export_key
from outcomes.export.redcap import DICTIONARY_HEADER, event_name, variable_name
from outcomes.export.services import ExportResult
from people.selectors import find_participant_by_phone
from tests.outcomes.export.exports import answered_demo, export_demo, read_rows

pytestmark = pytest.mark.django_db
VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture
def exported(client: Client, tmp_path: Path) -> ExportResult:
    return export_demo(answered_demo(client), tmp_path / "export", redcap_files=True)


def _header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def test_the_flat_file_starts_with_record_id_and_the_event(exported: ExportResult) -> None:
    header = _header(exported.directory / "redcap.csv")
    assert header[:2] == ["record_id", "redcap_event_name"]
    assert all(VARIABLE.match(name) for name in header), header
    assert len(set(header)) == len(header)


def test_every_form_has_a_complete_status_of_0_1_or_2(exported: ExportResult) -> None:
    rows = read_rows(exported.directory / "redcap.csv")
    statuses = [name for name in rows[0] if name.endswith("_complete")]
    assert statuses == ["participants_complete", "gad7_complete", "phq9_complete"]
    for row in rows:
        assert {row[name] for name in statuses} <= {"", "0", "1", "2"}
        assert any(row[name] for name in statuses), "every row fills one form"


def test_one_row_per_person_at_enrolment_and_per_timepoint_asked(exported: ExportResult) -> None:
    rows = read_rows(exported.directory / "redcap.csv")
    people = {row["pid"] for row in read_rows(exported.directory / "participants.csv")}
    enrolment = [row for row in rows if row["redcap_event_name"] == "enrolment_arm_1"]
    assert sorted(row["record_id"] for row in enrolment) == sorted(people)
    assert all(row["participants_complete"] == "2" for row in enrolment)
    pairs = [(row["record_id"], row["redcap_event_name"]) for row in rows]
    assert len(set(pairs)) == len(pairs)


def test_a_completed_timepoint_holds_both_instruments_in_one_row(exported: ExportResult) -> None:
    morgan = find_participant_by_phone(DEMO_SURVEY_PHONE)
    assert morgan is not None
    record = Pseudonymiser(export_key("demo")).pid(str(morgan.pk))
    [row] = [
        r
        for r in read_rows(exported.directory / "redcap.csv")
        if (r["record_id"], r["redcap_event_name"]) == (record, "baseline_arm_1")
    ]
    assert (row["phq9_complete"], row["phq9_total"], row["phq9_band"]) == ("2", "7.0", "Mild")
    assert (row["gad7_complete"], row["gad7_total"]) == ("2", "5.0")
    assert row["phq9_9"] == "1" and row["gad7_1"] == "2"
    assert row["arm"] == "" and row["participants_complete"] == ""


def test_the_data_dictionary_describes_every_field_of_the_flat_file(
    exported: ExportResult,
) -> None:
    dictionary = read_rows(exported.directory / "redcap_data_dictionary.csv")
    assert _header(exported.directory / "redcap_data_dictionary.csv")[0] == "Variable / Field Name"
    assert len(dictionary[0]) == len(DICTIONARY_HEADER) == 18
    fields = [row["Variable / Field Name"] for row in dictionary]
    flat = [
        name
        for name in _header(exported.directory / "redcap.csv")
        if name != "redcap_event_name" and not name.endswith("_complete")
    ]
    assert fields == flat
    assert dictionary[0]["Form Name"] == "participants"
    item = next(row for row in dictionary if row["Variable / Field Name"] == "phq9_1")
    assert item["Field Type"] == "radio"
    assert item["Choices, Calculations, OR Slider Labels"].startswith("0, Not at all | 1, ")
    total = next(row for row in dictionary if row["Variable / Field Name"] == "phq9_total")
    assert total["Text Validation Type OR Show Slider Number"] == "number"


def test_each_filled_form_is_designated_to_its_rows_event(exported: ExportResult) -> None:
    designated = {
        (row["unique_event_name"], row["form"])
        for row in read_rows(exported.directory / "redcap_instrument_designations.csv")
    }
    # REDCap names each event <event_name>_arm_<arm_num>.
    events = {
        f"{row['event_name']}_arm_{row['arm_num']}"
        for row in read_rows(exported.directory / "redcap_events.csv")
    }
    dictionary = read_rows(exported.directory / "redcap_data_dictionary.csv")
    form_of = {row["Variable / Field Name"]: row["Form Name"] for row in dictionary}
    for row in read_rows(exported.directory / "redcap.csv"):
        assert row["redcap_event_name"] in events
        for name, value in row.items():
            if value and name in form_of and name != "record_id":
                assert (row["redcap_event_name"], form_of[name]) in designated, name


def test_the_events_file_adds_events_with_labels_rather_than_updating_them(
    exported: ExportResult,
) -> None:
    header = _header(exported.directory / "redcap_events.csv")
    assert "unique_event_name" not in header
    events = read_rows(exported.directory / "redcap_events.csv")
    assert [(e["event_name"], e["custom_event_label"]) for e in events[:3]] == [
        ("enrolment", "Enrolment"),
        ("baseline", "Baseline"),
        ("week6", "6 weeks"),
    ]
    assert all(len(e["event_name"]) <= 18 for e in events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("phq9", "phq9"), ("k-10", "k_10"), ("5item", "v_5item"), ("Week 6", "week_6")],
)
def test_names_become_redcap_variables(text: str, expected: str) -> None:
    assert variable_name(text) == expected


def test_event_names_are_shortened_and_never_clash_with_enrolment() -> None:
    assert event_name("month-12") == "month_12_arm_1"
    assert event_name("a-very-long-timepoint-code") == "a_very_long_timepo_arm_1"
    assert event_name("enrolment") == "tp_enrolment_arm_1"


def test_the_codebook_says_how_to_import_the_redcap_files(exported: ExportResult) -> None:
    codebook = (exported.directory / "codebook.md").read_text(encoding="utf-8")
    assert "`redcap_data_dictionary.csv`" in codebook
    assert "`redcap_instrument_designations.csv`" in codebook
