"""Loading lexicon files into the database (`import_lexicon`, the post-migrate import, the
`import_risk_lexicon` command) and the per-process cache of compiled lexicons."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from messaging.risk.detection import screen
from messaging.risk.lexicon import (
    FileEntry,
    clear_cache,
    import_lexicon,
    import_shipped_lexicons,
    lexicon_for,
    lexicons_for,
    read_lexicon_file,
    shipped_files,
)
from messaging.risk.models import LexiconEntry

# A language of the tests' own, so that the shipped entries never interfere.
LANG = "xx"

ENTRIES = [
    FileEntry("phrase", "want to die", "", "suicide", "high"),
    FileEntry("phrase", "cant go on", "", "suicide", "medium"),
    FileEntry("negation", "not"),
    FileEntry("spelling", "kms", "kill myself"),
]

XX_FILE = """\
language: xx
negations: [not]
phrases:
  suicide:
    high: [want to die]
"""


@pytest.fixture(autouse=True)
def _fresh_lexicon_cache() -> Iterator[None]:
    # Another test's rolled-back rows may still be in this process's cache.
    clear_cache()
    yield
    clear_cache()


def row(kind: str, text: str) -> LexiconEntry:
    return LexiconEntry.objects.get(language=LANG, kind=kind, text=text)


def is_risk(text: str, language: str = LANG) -> bool:
    return screen(text, [lexicon_for(language)]).is_risk


# import_lexicon


def test_import_creates_each_entry_from_the_file(db: None) -> None:
    counts = import_lexicon(LANG, ENTRIES)
    assert (counts.created, counts.updated, counts.unchanged) == (4, 0, 0)
    assert LexiconEntry.objects.filter(language=LANG, source="file").count() == 4


def test_imported_entries_keep_their_fields(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    phrase, spelling = row("phrase", "cant go on"), row("spelling", "kms")
    assert (phrase.category, phrase.severity, phrase.active) == ("suicide", "medium", True)
    assert spelling.replacement == "kill myself"


def test_a_second_import_creates_nothing(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    counts = import_lexicon(LANG, ENTRIES)
    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 4)
    assert LexiconEntry.objects.filter(language=LANG).count() == 4


def test_import_updates_a_changed_severity(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    changed = [FileEntry("phrase", "cant go on", "", "suicide", "high")]
    counts = import_lexicon(LANG, changed)
    assert counts.updated == 1
    assert row("phrase", "cant go on").severity == "high"


def test_import_updates_a_changed_spelling(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    import_lexicon(LANG, [FileEntry("spelling", "kms", "kill my self")])
    assert row("spelling", "kms").replacement == "kill my self"


def test_import_keeps_an_entry_an_admin_switched_off_off(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    LexiconEntry.objects.filter(language=LANG, text="cant go on").update(active=False)
    import_lexicon(LANG, [FileEntry("phrase", "cant go on", "", "suicide", "high")])
    assert row("phrase", "cant go on").active is False


def test_import_never_touches_an_admin_entry(db: None) -> None:
    LexiconEntry.objects.create(
        language=LANG, kind="phrase", text="want to die", category="other", severity="medium"
    )
    counts = import_lexicon(LANG, ENTRIES)
    admin_row = row("phrase", "want to die")
    assert (admin_row.source, admin_row.category, admin_row.severity) == (
        "admin",
        "other",
        "medium",
    )
    assert counts.unchanged == 1


def test_an_entry_gone_from_the_file_stays(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    import_lexicon(LANG, ENTRIES[:1])
    assert row("phrase", "cant go on").active is True


def test_import_is_per_language(db: None) -> None:
    import_lexicon(LANG, ENTRIES)
    counts = import_lexicon("yy", ENTRIES)
    assert counts.created == 4


def test_the_post_migrate_import_loaded_the_shipped_lexicons(db: None) -> None:
    for path in shipped_files():
        language, entries = read_lexicon_file(path)
        stored = set(
            LexiconEntry.objects.filter(language=language, source="file").values_list(
                "kind", "text"
            )
        )
        assert {(entry.kind, entry.text) for entry in entries} <= stored


def test_the_post_migrate_import_covers_english_and_french(db: None) -> None:
    languages = set(LexiconEntry.objects.values_list("language", flat=True))
    assert {"en", "fr"} <= languages


def test_reimporting_the_shipped_lexicons_creates_nothing(db: None) -> None:
    assert all(counts.created == 0 for counts in import_shipped_lexicons())


def test_the_database_lexicon_screens_like_the_shipped_file(db: None) -> None:
    assert is_risk("i want to die", "en")
    assert not is_risk("I'm dying to see that movie", "en")


# The cache


def test_an_entry_saved_takes_effect_on_the_next_lookup(db: None) -> None:
    assert not is_risk("zorp zorp")
    LexiconEntry.objects.create(language=LANG, kind="phrase", text="zorp", category="suicide")
    assert is_risk("zorp zorp")


def test_an_entry_deleted_stops_matching_on_the_next_lookup(db: None) -> None:
    entry = LexiconEntry.objects.create(
        language=LANG, kind="phrase", text="zorp", category="suicide"
    )
    assert is_risk("zorp")
    entry.delete()
    assert not is_risk("zorp")


def test_an_entry_switched_off_stops_matching_on_the_next_lookup(db: None) -> None:
    entry = LexiconEntry.objects.create(
        language=LANG, kind="phrase", text="zorp", category="suicide"
    )
    assert is_risk("zorp")
    entry.active = False
    entry.save()
    assert not is_risk("zorp")


def test_the_lookup_is_cached_between_changes(db: None) -> None:
    assert lexicon_for(LANG) is lexicon_for(LANG)


def test_screening_reports_the_database_entry_id(db: None) -> None:
    entry = LexiconEntry.objects.create(
        language=LANG, kind="phrase", text="zorp", category="suicide"
    )
    assert screen("zorp", [lexicon_for(LANG)]).entry_ids == [entry.pk]


def test_an_invalid_stored_pattern_is_skipped_and_logged(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    bad = LexiconEntry.objects.create(
        language=LANG, kind="pattern", text="(unclosed", category="suicide"
    )
    with caplog.at_level(logging.ERROR, logger="messaging.risk.lexicon"):
        lexicon = lexicon_for(LANG)
    assert lexicon.signals == ()
    assert f"entry={bad.pk}" in caplog.text


def test_the_rest_still_screens_beside_an_invalid_stored_pattern(db: None) -> None:
    LexiconEntry.objects.create(language=LANG, kind="pattern", text="(unclosed", category="suicide")
    LexiconEntry.objects.create(language=LANG, kind="phrase", text="zorp", category="suicide")
    assert is_risk("zorp")


def test_stored_patterns_that_cannot_be_joined_each_screen(db: None) -> None:
    for text in ("(?P<w>zorp)", "(?P<w>blip)", "(?i)frob"):
        LexiconEntry.objects.create(language=LANG, kind="pattern", text=text, category="suicide")
    assert is_risk("zorp")
    assert is_risk("blip")
    assert is_risk("frob")


def test_lexicons_for_gives_each_language_once_in_order(db: None) -> None:
    lexicons = lexicons_for(["fr", "", "en", "fr"])
    assert [lexicon.language for lexicon in lexicons] == ["fr", "en"]


# The import_risk_lexicon command


def test_the_import_command_loads_a_named_file(db: None, tmp_path: Path) -> None:
    path = tmp_path / "xx.yaml"
    path.write_text(XX_FILE, "utf-8")
    out = io.StringIO()
    call_command("import_risk_lexicon", str(path), stdout=out)
    assert out.getvalue().strip() == "xx: 2 new, 0 updated, 0 unchanged"
    assert row("phrase", "want to die").source == "file"


def test_the_import_command_without_files_reimports_the_shipped_ones(db: None) -> None:
    out = io.StringIO()
    call_command("import_risk_lexicon", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["en", "fr"]
    assert all(" 0 new, 0 updated," in line for line in lines)


def test_the_import_command_refuses_a_bad_file(db: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("language: xx\nphrases:\n  sadness:\n    high: [so sad]\n", "utf-8")
    with pytest.raises(CommandError, match=r"bad\.yaml: unknown phrase category 'sadness'"):
        call_command("import_risk_lexicon", str(path), stdout=io.StringIO())


def test_a_bad_file_among_several_imports_none(db: None, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(XX_FILE, "utf-8")
    bad.write_text("language: yy\nphrases: [unclosed\n", "utf-8")
    before = LexiconEntry.objects.count()
    with pytest.raises(CommandError, match=r"bad\.yaml: not valid YAML"):
        call_command("import_risk_lexicon", str(good), str(bad), stdout=io.StringIO())
    assert LexiconEntry.objects.count() == before


def test_the_import_command_refuses_a_missing_file(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"absent\.yaml"):
        call_command("import_risk_lexicon", str(tmp_path / "absent.yaml"), stdout=io.StringIO())
