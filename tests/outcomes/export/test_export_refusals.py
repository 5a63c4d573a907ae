"""An export that cannot be made says why and writes nothing: no file, no folder, no audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEntry
from outcomes.export.services import ExportError, export_programme
from programmes.models import Programme
from tests.support.factories import enrol, make_programme

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme() -> Programme:
    programme = make_programme()
    for _ in range(6):
        enrol(programme, research_consent=True, peer_support=None)
    return programme


def _refused(programme: Programme, out_dir: Path, **options: Any) -> ExportError:
    with pytest.raises(ExportError) as refused:
        export_programme(programme=programme, out_dir=out_dir, **options)
    assert not AuditEntry.objects.filter(action="export.created").exists()
    assert not [p for p in out_dir.parent.iterdir() if ".partial-" in p.name]
    return refused.value


def test_a_folder_with_files_in_it_is_refused_and_left_as_it_was(
    programme: Programme, tmp_path: Path
) -> None:
    target = tmp_path / "export"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert _refused(programme, target).code == "export_target_not_empty"
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_a_file_in_place_of_the_folder_is_refused(programme: Programme, tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.write_text("mine")
    assert _refused(programme, target).code == "export_target_not_empty"
    assert target.read_text() == "mine"


def test_an_empty_folder_receives_the_export(programme: Programme, tmp_path: Path) -> None:
    target = tmp_path / "export"
    target.mkdir()
    result = export_programme(programme=programme, out_dir=target, k=2)
    assert (target / "participants.csv").is_file()
    assert result.directory == target


def test_a_study_without_an_export_key_is_refused(
    programme: Programme, tmp_path: Path, settings: Any
) -> None:
    settings.PEERLINK_EXPORT_KEYS = ""
    refused = _refused(programme, tmp_path / "export")
    assert refused.code == "export_key"
    assert "PEERLINK_EXPORT_KEYS" in refused.message
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("k", [1, 0, -3, True])
def test_a_k_below_2_is_refused(programme: Programme, tmp_path: Path, k: int) -> None:
    assert _refused(programme, tmp_path / "export", k=k).code == "invalid_export_parameters"
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize(
    "quasi_identifiers", [(), ("site", "postcode"), ("site", "site"), ("name",)]
)
def test_unknown_empty_or_repeated_quasi_identifiers_are_refused(
    programme: Programme, tmp_path: Path, quasi_identifiers: tuple[str, ...]
) -> None:
    refused = _refused(programme, tmp_path / "export", quasi_identifiers=quasi_identifiers)
    assert refused.code == "invalid_export_parameters"
    assert "site, age_band, gender" in refused.message


def test_fewer_people_than_k_cannot_be_exported(programme: Programme, tmp_path: Path) -> None:
    refused = _refused(programme, tmp_path / "export", k=7)
    assert refused.code == "not_anonymisable"
    assert "6 records, fewer than k=7" in refused.message
    assert not (tmp_path / "export").exists()
