"""Message libraries (issue 7 item 1): a YAML file imported by key, exported in the same
format, only approved messages offered for sending. Texts here are fictional samples."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from scheduling.library_format import LibraryFileError, parse_library, read_library
from scheduling.models import LibraryMessage, MessageLibrary
from scheduling.selectors import approved_messages

pytestmark = pytest.mark.django_db


def message(key: str, position: int, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key": key,
        "track": "general",
        "category": "supportive",
        "language": "en",
        "position": position,
        "text": f"Sample text number {position}.",
        "author": "Author A",
        "approver": "Clinician B",
        "approved_on": dt.date(2026, 11, 1),
    }
    item.update(overrides)
    return item


def document(*messages: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"library": "lib", "name": "Library", "messages": list(messages), **top}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "lib.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_file_imports_a_library_and_its_messages(tmp_path: Path) -> None:
    path = write(tmp_path, document(message("g-1", 1), message("g-2", 2)))
    assert "2 new, 0 updated, 0 unchanged" in run("import_library", str(path))
    library = MessageLibrary.objects.get(slug="lib")
    assert [m.key for m in library.messages.order_by("position")] == ["g-1", "g-2"]


def test_importing_the_same_file_again_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, document(message("g-1", 1), message("g-2", 2)))
    run("import_library", str(path))
    assert "0 new, 0 updated, 2 unchanged" in run("import_library", str(path))
    assert LibraryMessage.objects.count() == 2


def test_a_reimport_updates_a_message_by_its_key(tmp_path: Path) -> None:
    run("import_library", str(write(tmp_path, document(message("g-1", 1)))))
    changed = document(message("g-1", 1, text="A kinder wording."))
    assert "0 new, 1 updated" in run("import_library", str(write(tmp_path, changed)))
    assert LibraryMessage.objects.get(key="g-1").text == "A kinder wording."


def test_a_reimport_may_swap_two_positions(tmp_path: Path) -> None:
    run("import_library", str(write(tmp_path, document(message("a", 1), message("b", 2)))))
    swapped = document(message("a", 2), message("b", 1))
    run("import_library", str(write(tmp_path, swapped)))
    assert list(LibraryMessage.objects.order_by("position").values_list("key", flat=True)) == [
        "b",
        "a",
    ]


def test_a_position_held_by_a_message_the_file_omits_is_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    run("import_library", str(write(tmp_path, document(message("a", 1), message("b", 2)))))
    clash = document(message("c", 2, text="New."))
    with pytest.raises(CommandError, match="c: its position is held by b"):
        run("import_library", str(write(tmp_path, clash)))
    assert not LibraryMessage.objects.filter(key="c").exists()


def test_only_approved_messages_are_offered_for_sending(tmp_path: Path) -> None:
    doc = document(message("a", 1), message("b", 2, approver="", approved_on=None))
    run("import_library", str(write(tmp_path, doc)))
    library = MessageLibrary.objects.get()
    offered = approved_messages(library, track="general", category="supportive", language="en")
    assert [m.key for m in offered] == ["a"]


def test_an_export_imports_back_unchanged(tmp_path: Path) -> None:
    doc = document(
        message("a", 1),
        message("b", 2, approver="", approved_on=None),
        message("r", 1, category="reminder", text="Bring your questions to your next visit."),
        sample=True,
    )
    run("import_library", str(write(tmp_path, doc)))
    out = tmp_path / "export.yaml"
    run("export_library", "lib", "--out", str(out))
    exported, original = read_library(out.read_text()), parse_library(doc)
    assert (exported.slug, exported.name, exported.is_sample) == ("lib", "Library", True)
    assert sorted(exported.messages, key=lambda m: m.key) == sorted(
        original.messages, key=lambda m: m.key
    )
    assert "0 new, 0 updated, 3 unchanged" in run("import_library", str(out))


def test_an_import_is_audited_with_counts_only(tmp_path: Path) -> None:
    run("import_library", str(write(tmp_path, document(message("a", 1)))))
    entry = AuditEntry.objects.get(action="library.imported")
    assert entry.details == {"created": 1, "updated": 0, "unchanged": 0}


def test_exporting_an_unknown_library_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no library with this slug"):
        run("export_library", "nope", "--out", str(tmp_path / "x.yaml"))


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ([1, 2], "must be a mapping"),
        (document(message("a", 1), extra=1), "unknown keys"),
        ({"name": "x", "messages": [message("a", 1)]}, "library must be a slug"),
        (document(), "messages must be a non-empty list"),
        (document(message("a", 1), message("a", 2)), "keys used twice"),
        (document(message("a", 1), message("b", 1)), "two messages at position 1"),
        (document(message("a", 1, category="daily")), "category is one of"),
        (document(message("a", 0)), "position is a whole number from 1"),
        (document(message("a", True)), "position is a whole number from 1"),
        (document(message("a", 1, text="")), "text must be text"),
        (document(message("a", 1, text="x" * 1601)), "text holds at most 1600"),
        (document(message("a", 1, approved_on=None)), "both approver and approved_on"),
        (document(message("a", 1, approver="")), "both approver and approved_on"),
        (document(message("a", 1, approved_on="soon")), "approved_on is a date"),
        (document(message("a", 1, track="not a slug")), "track must be a slug"),
        (document(message("a", 1, colour="blue")), "unknown fields"),
        (document({"key": "a", "track": "general"}), "missing"),
    ],
)
def test_a_malformed_file_is_refused_with_a_clear_error_and_writes_nothing(
    tmp_path: Path, doc: Any, error: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CommandError, match=error):
        run("import_library", str(path))
    assert not MessageLibrary.objects.exists()


def test_a_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("library: lib\nmessages: [\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"not valid YAML \(line \d+\)"):
        run("import_library", str(path))


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        run("import_library", str(tmp_path / "absent.yaml"))


DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(DOCUMENTS)
def test_any_document_is_either_a_library_or_a_library_file_error(doc: Any) -> None:
    # Anything but a LibraryFileError (a TypeError, a KeyError) fails the test.
    with contextlib.suppress(LibraryFileError):
        parse_library(doc)


def test_the_shipped_sample_library_has_sixty_texts_per_track_and_is_marked_sample() -> None:
    from collections import Counter

    sample = Path(__file__).resolve().parents[2] / "scheduling" / "libraries" / "sample_en.yaml"
    spec = read_library(sample.read_text(encoding="utf-8"))
    assert spec.is_sample
    supportive = Counter(m.track for m in spec.messages if m.category == "supportive")
    assert set(supportive) == {"general", "depression", "anxiety", "substance_use", "psychosis"}
    assert all(count >= 60 for count in supportive.values())
    # Samples are never approved: a programme approves its own clinical content.
    assert all(not m.approver and m.approved_on is None for m in spec.messages)
    assert all(len(m.text) <= 160 and m.text.isascii() for m in spec.messages)


def test_the_shipped_sample_library_imports(tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "scheduling" / "libraries" / "sample_en.yaml"
    assert "310 new" in run("import_library", str(sample))
    assert MessageLibrary.objects.get(slug="sample-en").is_sample
