"""Lexicon files: the shipped YAML parses and compiles; every kind of malformed document is
refused by `parse_lexicon` / `read_lexicon_file` with a message naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from messaging.risk.detection import screen
from messaging.risk.lexicon import (
    FileEntry,
    LexiconFileError,
    compile_entries,
    parse_lexicon,
    read_lexicon_file,
    shipped_files,
    shipped_lexicon,
)
from messaging.risk.models import LexiconKind


def minimal(**extra: Any) -> dict[str, Any]:
    return {"language": "xx", **extra}


def refused(document: Any) -> str:
    with pytest.raises(LexiconFileError) as caught:
        parse_lexicon(document, name="test.yaml")
    return str(caught.value)


# The shipped files


def test_the_shipped_files_are_english_and_french() -> None:
    assert sorted(read_lexicon_file(path)[0] for path in shipped_files()) == ["en", "fr"]


@pytest.mark.parametrize("path", shipped_files(), ids=lambda path: path.name)
def test_a_shipped_file_has_every_kind_of_entry(path: Path) -> None:
    _, entries = read_lexicon_file(path)
    assert {entry.kind for entry in entries} == set(LexiconKind.values)


@pytest.mark.parametrize("path", shipped_files(), ids=lambda path: path.name)
def test_every_shipped_phrase_matches_its_own_words(path: Path) -> None:
    language, entries = read_lexicon_file(path)
    lexicon = compile_entries(language, entries)
    silent = [
        entry.text
        for entry in entries
        if entry.kind == LexiconKind.PHRASE
        and not screen(entry.text.replace("*", "the"), [lexicon]).is_risk
    ]
    assert silent == []


def test_a_language_without_a_shipped_file_is_refused() -> None:
    with pytest.raises(LexiconFileError, match="no shipped lexicon"):
        shipped_lexicon("xx")


# parse_lexicon


def test_a_minimal_document_has_no_entries() -> None:
    assert parse_lexicon(minimal()) == ("xx", [])


def test_a_document_lists_each_kind_of_entry() -> None:
    document = minimal(
        negations=["not"],
        negation_fillers=["going"],
        spellings={"kms": "kill myself", 2: "to"},
        phrases={"suicide": {"high": ["want to die"]}, "self_harm": {"medium": ["hit myself"]}},
        patterns=[{"pattern": r"\bsuicid\w*", "category": "suicide", "severity": "high"}],
        exclusions=["dying to"],
    )
    _, entries = parse_lexicon(document)
    assert entries == [
        FileEntry("negation", "not"),
        FileEntry("filler", "going"),
        FileEntry("spelling", "kms", "kill myself"),
        FileEntry("spelling", "2", "to"),
        FileEntry("phrase", "want to die", "", "suicide", "high"),
        FileEntry("phrase", "hit myself", "", "self_harm", "medium"),
        FileEntry("pattern", r"\bsuicid\w*", "", "suicide", "high"),
        FileEntry("exclusion", "dying to"),
    ]


def test_a_pattern_without_severity_is_high() -> None:
    document = minimal(patterns=[{"pattern": "x", "category": "suicide"}])
    assert parse_lexicon(document)[1][0].severity == "high"


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    assert "must be a mapping" in refused(["language", "en"])


def test_an_empty_document_is_refused() -> None:
    assert "must be a mapping" in refused(None)


def test_a_document_without_language_is_refused() -> None:
    assert "`language` is required" in refused({"phrases": {}})


def test_a_blank_language_is_refused() -> None:
    assert "`language` is required" in refused({"language": "  "})


def test_an_unknown_phrase_category_is_refused() -> None:
    message = refused(minimal(phrases={"sadness": {"high": ["so sad"]}}))
    assert "unknown phrase category 'sadness'" in message


def test_an_unknown_phrase_severity_is_refused() -> None:
    message = refused(minimal(phrases={"suicide": {"critical": ["want to die"]}}))
    assert "unknown severity 'critical'" in message


def test_an_empty_phrase_is_refused() -> None:
    message = refused(minimal(phrases={"suicide": {"high": ["want to die", "  "]}}))
    assert "phrases.suicide.high must be a list of non-empty strings" in message


def test_a_phrase_that_is_not_text_is_refused() -> None:
    message = refused(minimal(phrases={"suicide": {"high": [42]}}))
    assert "phrases.suicide.high must be a list of non-empty strings" in message


def test_phrases_not_grouped_by_category_are_refused() -> None:
    assert "grouped by category" in refused(minimal(phrases=["want to die"]))


def test_an_invalid_regex_pattern_is_refused() -> None:
    message = refused(
        minimal(patterns=[{"pattern": "(unclosed", "category": "suicide", "severity": "high"}])
    )
    assert "patterns[0] is not a valid regular expression" in message


def test_a_pattern_without_its_pattern_is_refused() -> None:
    message = refused(minimal(patterns=[{"category": "suicide", "severity": "high"}]))
    assert "patterns[0] needs a `pattern`" in message


def test_a_pattern_with_an_unknown_category_is_refused() -> None:
    message = refused(minimal(patterns=[{"pattern": "x", "category": "sadness"}]))
    assert "patterns[0] has an unknown category/severity" in message


def test_a_pattern_with_an_unknown_severity_is_refused() -> None:
    message = refused(minimal(patterns=[{"pattern": "x", "category": "suicide", "severity": 9}]))
    assert "patterns[0] has an unknown category/severity" in message


def test_spellings_that_are_not_a_mapping_are_refused() -> None:
    assert "spellings must map a word to its meaning" in refused(minimal(spellings=["kms"]))


def test_a_spelling_without_a_meaning_is_refused() -> None:
    message = refused(minimal(spellings={"kms": None}))
    assert "spellings need a word and a meaning ('kms')" in message


def test_a_spelling_with_a_blank_meaning_is_refused() -> None:
    assert "spellings need a word and a meaning" in refused(minimal(spellings={"kms": " "}))


def test_a_spelling_whose_meaning_is_a_list_is_refused() -> None:
    message = refused(minimal(spellings={"kms": ["kill", "myself"]}))
    assert "spellings need a word and a meaning" in message


def test_a_spelling_yaml_reads_as_a_boolean_is_refused() -> None:
    # An unquoted `off:` key is YAML 1.1 for False.
    assert "spellings need a word and a meaning" in refused(minimal(spellings={False: "of"}))


def test_negations_that_are_not_a_list_are_refused() -> None:
    assert "negations must be a list of non-empty strings" in refused(minimal(negations="not"))


def test_fillers_with_a_blank_word_are_refused() -> None:
    message = refused(minimal(negation_fillers=["going", ""]))
    assert "negation_fillers must be a list of non-empty strings" in message


def test_exclusions_that_are_not_text_are_refused() -> None:
    message = refused(minimal(exclusions=[{"dying": "to"}]))
    assert "exclusions must be a list of non-empty strings" in message


def test_the_error_names_the_document() -> None:
    with pytest.raises(LexiconFileError, match=r"^mine\.yaml: "):
        parse_lexicon([], name="mine.yaml")


# read_lexicon_file


def test_a_file_is_read_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "xx.yaml"
    path.write_text("language: xx\nphrases:\n  suicide:\n    high: [want to die]\n", "utf-8")
    assert read_lexicon_file(path) == (
        "xx",
        [FileEntry("phrase", "want to die", "", "suicide", "high")],
    )


def test_a_yaml_syntax_error_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("language: xx\nphrases: [unclosed\n", "utf-8")
    with pytest.raises(LexiconFileError, match=r"broken\.yaml: not valid YAML \(line \d+\)"):
        read_lexicon_file(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LexiconFileError, match=r"absent\.yaml: FileNotFoundError"):
        read_lexicon_file(tmp_path / "absent.yaml")


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- language\n- xx\n", "utf-8")
    with pytest.raises(LexiconFileError, match=r"list\.yaml: the file must be a mapping"):
        read_lexicon_file(path)


def test_an_unknown_top_level_key_is_refused() -> None:
    from messaging.risk.lexicon import LexiconFileError, parse_lexicon

    with pytest.raises(LexiconFileError, match=r"unknown keys \['negation'\]"):
        parse_lexicon({"language": "en", "negation": ["not"]}, name="x.yaml")
