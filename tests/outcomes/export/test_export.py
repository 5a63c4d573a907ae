"""The evaluator's export (outcomes/export/services.py): the demo programme exported after
Morgan has answered their baseline surveys and texted their peer supporter."""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import frictionless
import pandas as pd
import pytest
from django.test import Client

from audit.models import AuditEntry
from messaging.models import Conversation, Message, SenderRole
from messaging.risk.models import RiskAlert
from messaging.selectors import message_payload
from outcomes.demo import DEMO_SURVEY_PHONE
from outcomes.export.keys import Pseudonymiser, export_key
from outcomes.export.services import ExportResult
from outcomes.models import SurveySession
from people.models import ConsentKind, ConsentSource, Participant, User
from people.selectors import find_participant_by_phone, participant_profile
from people.services import withdraw_consent
from programmes.models import Enrolment, Programme
from tests.outcomes.export.exports import (
    answered_demo,
    export_demo,
    package,
    read_rows,
)
from tests.support.factories import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(client: Client) -> Programme:
    return answered_demo(client)


@pytest.fixture
def exported(demo: Programme, tmp_path: Path) -> ExportResult:
    return export_demo(demo, tmp_path / "export", redcap_files=True)


def _morgan() -> Participant:
    morgan = find_participant_by_phone(DEMO_SURVEY_PHONE)
    assert morgan is not None
    return morgan


def _morgan_pid() -> str:
    return Pseudonymiser(export_key("demo")).pid(str(_morgan().pk))


def test_the_export_writes_the_tables_the_datapackage_and_the_codebook(
    exported: ExportResult,
) -> None:
    names = {file.name for file in exported.files}
    assert {
        "participants.csv",
        "survey_phq9.csv",
        "survey_gad7.csv",
        "engagement_weekly.csv",
        "datapackage.json",
        "codebook.md",
    } <= names
    assert sorted(path.name for path in exported.directory.iterdir()) == sorted(names)
    assert exported.participants == 8
    assert exported.excluded_without_research_consent == 0


def test_every_table_loads_into_pandas_with_the_columns_its_schema_names(
    exported: ExportResult,
) -> None:
    resources = package(exported.directory)["resources"]
    assert {r["path"] for r in resources} >= {"participants.csv", "survey_phq9.csv"}
    for resource in resources:
        frame = pd.read_csv(exported.directory / resource["path"], keep_default_na=False)
        assert list(frame.columns) == [f["name"] for f in resource["schema"]["fields"]]
        assert len(frame) == resource["peerlink:rows"]


def test_the_datapackage_validates_with_frictionless(exported: ExportResult) -> None:
    report = frictionless.validate(str(exported.directory / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_the_codebook_describes_every_column_of_every_table(exported: ExportResult) -> None:
    codebook = (exported.directory / "codebook.md").read_text(encoding="utf-8")
    for resource in package(exported.directory)["resources"]:
        section = codebook.split(f"## {resource['path']}: ", 1)[1].split("\n## ", 1)[0]
        for field in resource["schema"]["fields"]:
            assert f"| `{field['name']}` | {field['type']} |" in section, field["name"]


def test_a_completed_survey_carries_its_items_total_band_and_days(
    exported: ExportResult,
) -> None:
    [row] = [
        r for r in read_rows(exported.directory / "survey_phq9.csv") if r["pid"] == _morgan_pid()
    ]
    assert row["timepoint"] == "baseline"
    assert (row["status"], row["complete"], row["items_answered"]) == ("completed", "true", "10")
    assert (row["total"], row["band"]) == ("7.0", "Mild")
    session = SurveySession.objects.select_related("enrolment").get(
        enrolment__participant=_morgan(), instrument_slug="phq9", timepoint__code="baseline"
    )
    assert session.completed_at is not None
    day = (session.completed_at - session.enrolment.enrolled_at).days
    assert day == 1  # the demo's people were enrolled the day before it was seeded
    assert (row["day"], row["target_day"], row["days_from_target"]) == ("1", "0", "1")
    assert [row[f"phq9_{n}"] for n in range(1, 10)] == ["1", "2", "1", "1", "0", "1", "0", "0", "1"]


def test_weekly_engagement_adds_up_to_each_persons_messages_and_alerts(
    exported: ExportResult,
) -> None:
    pseudonymiser = Pseudonymiser(export_key("demo"))
    expected: Counter[tuple[str, str]] = Counter()
    for participant_id, channel in Message.objects.filter(
        sender_role=SenderRole.PARTICIPANT
    ).values_list("conversation__enrolment__participant_id", "channel"):
        column = "peer_messages_in_sms" if channel == "sms" else "peer_messages_in_web"
        expected[pseudonymiser.pid(str(participant_id)), column] += 1
    for participant_id in RiskAlert.objects.values_list("enrolment__participant_id", flat=True):
        expected[pseudonymiser.pid(str(participant_id)), "risk_alerts_opened"] += 1
    exported_counts: Counter[tuple[str, str]] = Counter()
    for week in read_rows(exported.directory / "engagement_weekly.csv"):
        for column in ("peer_messages_in_sms", "peer_messages_in_web", "risk_alerts_opened"):
            exported_counts[week["pid"], column] += int(week[column])
    assert +exported_counts == expected
    assert expected[_morgan_pid(), "risk_alerts_opened"] == 1  # their PHQ-9 item 9


def test_no_exported_file_holds_a_name_a_phone_number_message_text_or_a_date(
    exported: ExportResult,
) -> None:
    forbidden: set[str] = set()
    for enrolment in Enrolment.objects.select_related("participant"):
        profile = participant_profile(enrolment.participant)
        first = profile.name.split()[0]
        digits = profile.phone.removeprefix("+1")
        forbidden |= {
            profile.name,
            first,
            profile.phone,
            digits,
            digits[3:],
            digits[-7:-4] + "-" + digits[-4:],
        }
        forbidden |= {
            enrolment.enrolled_at.date().isoformat(),
            enrolment.enrolled_at.strftime("%Y%m%d"),
        }
    for user in User.objects.all():
        forbidden |= {name for name in (user.first_name, user.get_full_name(), user.email) if name}
    for message in Message.objects.select_related("conversation"):
        body = message_payload(message, message.conversation, delivery=None)["body"]
        forbidden |= {body, body[:24]}
    assert len(forbidden) > 40
    date_shaped = re.compile(r"\b(19|20)\d\d-\d\d-\d\d|\b\d\d?/\d\d?/\d{2,4}\b|T\d\d:\d\d")
    for file in exported.files:
        text = (exported.directory / file.name).read_text(encoding="utf-8")
        found = sorted(value for value in forbidden if _appears(value, text))
        assert not found, f"{file.name} holds identifying values"
        assert not date_shaped.search(text), f"{file.name} holds a calendar date or time"
        assert "@" not in text, f"{file.name} holds an email address"


def _appears(value: str, text: str) -> bool:
    """As a whole word: "Eve" is a name, "Every" is not; a phone's digits inside a hex pid
    are not a phone number."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) is not None


def test_the_export_is_audited_with_its_scope_row_counts_and_file_hashes(
    exported: ExportResult,
) -> None:
    entry = AuditEntry.objects.get(action="export.created")
    assert entry.actor_id == User.objects.get(username="demo-evaluator").pk
    assert entry.details["k"] == 5
    assert entry.details["quasi_identifiers"] == ["site", "age_band", "gender"]
    assert entry.details["participants"] == 8
    on_disk = {file.name: (file.rows, file.sha256) for file in exported.files}
    assert {f["name"]: (f["rows"], f["sha256"]) for f in entry.details["files"]} == on_disk
    import hashlib

    for name, (_, digest) in on_disk.items():
        assert hashlib.sha256((exported.directory / name).read_bytes()).hexdigest() == digest


def test_the_same_key_gives_the_same_pids_in_a_later_export(
    demo: Programme, exported: ExportResult, tmp_path: Path
) -> None:
    again = export_demo(demo, tmp_path / "again")
    first = {r["pid"] for r in read_rows(exported.directory / "participants.csv")}
    assert {r["pid"] for r in read_rows(again.directory / "participants.csv")} == first
    assert _morgan_pid() in first


def test_another_studys_key_gives_unrelated_pids(
    demo: Programme, exported: ExportResult, tmp_path: Path, settings: object
) -> None:
    import base64

    settings.PEERLINK_EXPORT_KEYS = "demo:" + base64.b64encode(b"another study" * 3).decode()  # type: ignore[attr-defined]
    other = export_demo(demo, tmp_path / "other")
    first = {r["pid"] for r in read_rows(exported.directory / "participants.csv")}
    second = {r["pid"] for r in read_rows(other.directory / "participants.csv")}
    assert len(second) == len(first) == 8
    assert not first & second


def test_a_person_who_withdrew_research_consent_is_in_no_file(
    demo: Programme, tmp_path: Path
) -> None:
    withdraw_consent(
        participant=_morgan(), kind=ConsentKind.RESEARCH, source=ConsentSource.STAFF, programme=demo
    )
    result = export_demo(demo, tmp_path / "export")
    assert (result.participants, result.excluded_without_research_consent) == (7, 1)
    for file in result.files:
        assert _morgan_pid() not in (result.directory / file.name).read_text(encoding="utf-8")


def test_message_text_is_never_read_into_the_export(exported: ExportResult) -> None:
    columns = {
        field["name"]
        for resource in package(exported.directory)["resources"]
        for field in resource["schema"]["fields"]
    }
    assert not columns & {"body", "text", "message", "note", "name", "phone"}
    assert Conversation.objects.filter(enrolment__programme__slug="demo").exists()


def test_the_demo_evaluator_downloads_the_demo_export_and_it_validates(
    demo: Programme,
    tmp_path: Path,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PEERLINK_EXPORT_DIR = tmp_path / "jobs"
    evaluator = signed_in_client(User.objects.get(username="demo-evaluator"))
    with django_capture_on_commit_callbacks(execute=True):
        started = evaluator.post(
            "/api/v1/programmes/demo/exports/", {"redcap": True}, content_type="application/json"
        )
    assert started.status_code == 202, started.json()
    job = evaluator.get(f"/api/v1/exports/{started.json()['id']}/").json()
    assert job["state"] == "ready", job
    response = evaluator.get(job["download"])
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        archive.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped"
    report = frictionless.validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    people = pd.read_csv(folder / "participants.csv", dtype=str, keep_default_na=False)
    assert len(people) == 8 and _morgan_pid() in set(people.pid)
