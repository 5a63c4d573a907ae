"""Instrument files (issue 8 item 1): the built-in PHQ-9, GAD-7 and WHO-5 parse; a file that
breaks the schema, or a rule the schema cannot state, gets an error naming the field."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.instrument_format import (
    BUILT_IN,
    INSTRUMENTS,
    InstrumentFileError,
    built_in,
    normalise_answer,
    parse_instrument,
    read_instrument_file,
)
from tests.outcomes.instruments import document


@pytest.mark.parametrize(("slug", "items"), [("phq9", 10), ("gad7", 7), ("who5", 5)])
def test_each_built_in_instrument_parses_with_its_items(slug: str, items: int) -> None:
    spec = built_in(slug)

    assert (spec.slug, len(spec.items), spec.languages) == (slug, items, ("en",))
    assert spec.licence and spec.citation


def test_the_built_in_list_is_every_shipped_file() -> None:
    assert {path.stem for path in INSTRUMENTS.glob("*.yaml")} == set(BUILT_IN)


def test_an_option_is_accepted_by_its_value_its_label_and_its_extra_answers() -> None:
    spec = parse_instrument(
        {
            **document("yn", 1, low=0, high=1),
            "options": [
                {"value": 0, "label": {"en": "No"}, "answers": {"en": ["n", "nope"]}},
                {"value": 1, "label": {"en": "Yes"}, "answers": {"en": ["y"]}},
            ],
        }
    )

    (item,) = spec.items
    assert item.options[0].accepted("en") == {"0", "no", "n", "nope"}
    assert item.options[1].accepted("en") == {"1", "yes", "y"}


def test_answers_are_compared_without_case_width_spaces_or_a_final_stop() -> None:
    assert normalise_answer("  Not At ALL. ") == "not at all"
    assert normalise_answer("\uff12") == "2"  # a full-width digit


def _unscored_but_counted(doc: dict[str, Any]) -> None:
    doc["items"][0]["scored"] = False
    doc["scoring"]["total"]["items"] = ["syn_1", "syn_2"]


def broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(
        document("syn", 3, scoring={"bands": [{"min": 0, "max": 12, "label": "All"}]})
    )
    change(doc)
    return doc


def _set(path: list[Any], value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("items"), "'items' is a required property"),
        (_set(["instrument"], "Has Spaces"), "instrument: 'Has Spaces' does not match"),
        (_set(["items", 0, "unknown"], 1), "items/0: Additional properties"),
        (_set(["scoring", "total", "method"], "median"), "scoring/total/method"),
        (_set(["options", 0, "value"], "zero"), "options/0/value: 'zero' is not of type"),
        (_set(["languages"], []), "languages"),
        (_set(["items", 1, "key"], "syn_1"), "item keys are repeated: ['syn_1']"),
        (_set(["options", 1, "value"], 0), "option values are repeated"),
        (_set(["options", 1, "label"], {"en": "choice 0"}), "names two options"),
        (_set(["options", 2, "label"], {"en": "1"}), "the answer '1' (en) names two options"),
        (_set(["languages"], ["en", "fr"]), "has no text in ['fr']"),
        (_set(["scoring", "total", "items"], ["syn_9"]), "unknown items ['syn_9']"),
        (_set(["scoring", "total", "max_missing"], 3), "max_missing must leave an item"),
        (
            _set(["scoring", "bands"], [{"min": 1, "max": 12, "label": "A"}]),
            "cover every total from 0 to 12",
        ),
        (
            _set(
                ["scoring", "bands"],
                [{"min": 0, "max": 6, "label": "A"}, {"min": 6, "max": 12, "label": "B"}],
            ),
            "'A' and 'B' overlap",
        ),
        (
            _set(
                ["risk"],
                [{"item": "syn_7", "above": 0, "severity": "high", "categories": ["suicide"]}],
            ),
            "unknown item 'syn_7'",
        ),
        (
            _set(
                ["risk"],
                [{"item": "syn_1", "above": 4, "severity": "high", "categories": ["suicide"]}],
            ),
            "can never fire",
        ),
        (
            _set(
                ["risk"],
                [{"item": "syn_1", "above": 0, "severity": "urgent", "categories": ["suicide"]}],
            ),
            "severity",
        ),
        (_unscored_but_counted, "counts unscored items ['syn_1']"),
    ],
)
def test_a_broken_file_is_refused_naming_the_field(change: Any, message: str) -> None:
    with pytest.raises(InstrumentFileError, match=_literal(message)):
        parse_instrument(broken(change))


def _literal(text: str) -> str:
    return re.escape(text)


def test_a_file_that_is_not_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("instrument: x\nitems: [\n  - {key: a\n")

    with pytest.raises(InstrumentFileError, match=r"not valid YAML or JSON \(line \d+\)"):
        read_instrument_file(path)


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_any_malformed_document_raises_the_files_error_and_nothing_else(junk: Any) -> None:
    with pytest.raises(InstrumentFileError):
        parse_instrument(junk)
