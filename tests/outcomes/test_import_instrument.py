"""manage.py import_instrument (issue 8 item 1): a file, or the built-ins; the same content
again changes nothing; changed content under a stored version is refused and writes
nothing; a broken file gets a clear error and writes nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from outcomes.models import Instrument
from tests.outcomes.instruments import document

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_instrument", *args, stdout=out)
    return out.getvalue()


def write(tmp_path: Path, doc: dict[str, Any], name: str = "syn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_the_built_in_instruments_are_there_after_migrate() -> None:
    stored = set(Instrument.objects.filter(built_in=True).values_list("slug", "version"))

    assert stored == {("phq9", "1"), ("gad7", "1"), ("who5", "1998")}


def test_importing_the_built_ins_again_changes_nothing() -> None:
    before = Instrument.objects.count()

    output = run("--built-in")

    assert output.splitlines() == [
        "phq9 v1: unchanged",
        "gad7 v1: unchanged",
        "who5 v1998: unchanged",
    ]
    assert Instrument.objects.count() == before


def test_a_new_instrument_is_stored_with_its_definition_and_audited(tmp_path: Path) -> None:
    doc = document("syn", 3, scoring={"bands": [{"min": 0, "max": 12, "label": "All"}]})

    assert run(str(write(tmp_path, doc))) == "syn v1: created\n"

    stored = Instrument.objects.get(slug="syn")
    assert (stored.version, stored.definition, stored.built_in) == ("1", doc, False)
    assert AuditEntry.objects.filter(action="instrument.imported").count() == 1


def test_json_is_accepted_as_well_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "syn.json"
    path.write_text(json.dumps(document("syn", 2)))

    assert run(str(path)) == "syn v1: created\n"


def test_the_same_content_in_another_layout_is_unchanged(tmp_path: Path) -> None:
    doc = document("syn", 3)
    run(str(write(tmp_path, doc)))
    relaid = tmp_path / "relaid.json"
    relaid.write_text(json.dumps(doc, indent=4, sort_keys=True))

    assert run(str(relaid)) == "syn v1: unchanged\n"
    assert Instrument.objects.filter(slug="syn").count() == 1


def test_changed_content_under_a_stored_version_is_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    doc = document("syn", 3)
    run(str(write(tmp_path, doc)))
    doc["items"][0]["text"]["en"] = "Reworded item"
    audits = AuditEntry.objects.count()

    with pytest.raises(CommandError, match="already stored with other content; give the changed"):
        run(str(write(tmp_path, doc, "changed.yaml")))

    stored = Instrument.objects.get(slug="syn")
    assert stored.definition["items"][0]["text"]["en"] == "Synthetic item 1"
    assert AuditEntry.objects.count() == audits


def test_changed_content_under_a_new_version_is_a_second_instrument(tmp_path: Path) -> None:
    doc = document("syn", 3)
    run(str(write(tmp_path, doc)))
    doc["version"] = "2"
    doc["items"][0]["text"]["en"] = "Reworded item"

    assert run(str(write(tmp_path, doc, "v2.yaml"))) == "syn v2: created\n"
    assert sorted(Instrument.objects.filter(slug="syn").values_list("version", flat=True)) == [
        "1",
        "2",
    ]


def test_a_broken_file_names_the_file_and_field_and_writes_nothing(tmp_path: Path) -> None:
    doc = document("syn", 3)
    doc["scoring"]["total"]["method"] = "median"
    before = Instrument.objects.count()

    with pytest.raises(
        CommandError, match=r"syn\.yaml: scoring/total/method: 'median' is not one of"
    ):
        run(str(write(tmp_path, doc)))

    assert Instrument.objects.count() == before


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"cannot read nothing\.yaml: FileNotFoundError"):
        run(str(tmp_path / "nothing.yaml"))


@pytest.mark.parametrize("args", [(), ("some.yaml", "--built-in")])
def test_either_a_file_or_the_built_ins_must_be_named(args: tuple[str, ...]) -> None:
    with pytest.raises(CommandError, match="give either a FILE or --built-in"):
        run(*args)
