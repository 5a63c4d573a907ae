"""manage.py export_outcomes --programme SLUG --out DIR."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from tests.support.factories import enrol, make_programme


@pytest.fixture
def programme_of_six(transactional_db: None) -> None:
    # transactional: the export opens its own transaction, as it does in production (on
    # PostgreSQL a REPEATABLE READ, READ ONLY snapshot).
    programme = make_programme()
    for _ in range(6):
        enrol(programme, research_consent=True, peer_support=None)


def _export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_outcomes", *args, stdout=out)
    return out.getvalue()


@pytest.mark.usefixtures("programme_of_six")
def test_the_command_exports_and_lists_each_file_with_its_hash(tmp_path: Path) -> None:
    output = _export("--programme", "trial", "--out", str(tmp_path / "x"), "--k", "3")
    assert "Exported 6 participants of trial" in output
    for name in ("participants.csv", "engagement_weekly.csv", "datapackage.json", "codebook.md"):
        assert (tmp_path / "x" / name).is_file()
        assert f"  {name}: " in output
    entry = AuditEntry.objects.get(action="export.created")
    assert entry.actor_id is None and entry.details["k"] == 3


@pytest.mark.usefixtures("programme_of_six")
def test_the_command_writes_the_redcap_files_on_request(tmp_path: Path) -> None:
    _export("--programme", "trial", "--out", str(tmp_path / "x"), "--k", "2", "--redcap")
    assert (tmp_path / "x" / "redcap.csv").is_file()
    assert (tmp_path / "x" / "redcap_data_dictionary.csv").is_file()


@pytest.mark.usefixtures("programme_of_six")
def test_an_unknown_programme_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No programme 'nope'"):
        _export("--programme", "nope", "--out", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


@pytest.mark.usefixtures("programme_of_six")
def test_a_refused_export_names_its_reason(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not_anonymisable: There are 6 records"):
        _export("--programme", "trial", "--out", str(tmp_path / "x"), "--k", "10")
    assert not (tmp_path / "x").exists()


@pytest.mark.usefixtures("programme_of_six")
def test_an_unknown_quasi_identifier_is_refused_by_the_parser(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'postcode'"):
        _export(
            "--programme", "trial", "--out", str(tmp_path / "x"), "--quasi-identifiers", "postcode"
        )
