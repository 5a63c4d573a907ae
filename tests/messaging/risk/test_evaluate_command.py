"""`evaluate_risk_lexicon`: precision and recall per language on the labelled set. The tests
check the report's shape and counts, never the figures themselves (the set is not for
tuning), and that no message text is ever printed."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from messaging.risk.evaluate import EVALUATION_SET
from messaging.risk.lexicon import clear_cache

HEADER = "id,language,label,kind,text"


@dataclass(frozen=True)
class Row:
    language: str
    messages: int
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True)
class Report:
    title: str
    header: list[str]
    rows: dict[str, Row]
    lines: list[str]


@pytest.fixture(autouse=True)
def _fresh_lexicon_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("evaluate_risk_lexicon", *args, stdout=out)
    return out.getvalue()


def parse(output: str) -> Report:
    lines = output.splitlines()
    rows = {}
    for line in lines[2:]:
        fields = line.split()
        if len(fields) != 9 or not fields[1].isdigit():
            break
        language, messages, precision, recall, f1, tp, fp, fn, tn = fields
        rows[language] = Row(
            language,
            int(messages),
            float(precision),
            float(recall),
            float(f1),
            int(tp),
            int(fp),
            int(fn),
            int(tn),
        )
    return Report(lines[0], lines[1].split(), rows, lines)


def csv_rows() -> list[dict[str, str]]:
    with EVALUATION_SET.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_counts(split: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in csv_rows():
        odd = int(item["id"].rsplit("-", 1)[-1]) % 2 == 1
        if split == "all" or (split == "development") == odd:
            counts[item["language"]] += 1
            counts["all"] += 1
    return counts


def write_csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "set.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


# The report


def test_the_report_has_a_title_and_a_header(db: None) -> None:
    report = parse(run())
    assert report.title == "Crisis lexicon (database) on risk_messages.csv, all split:"
    assert report.header == [
        "language",
        "messages",
        "precision",
        "recall",
        "F1",
        "TP",
        "FP",
        "FN",
        "TN",
    ]


def test_the_report_has_a_row_per_language_then_all(db: None) -> None:
    assert list(parse(run()).rows) == ["en", "fr", "all"]


def test_precision_and_recall_are_between_zero_and_one(db: None) -> None:
    for row in parse(run()).rows.values():
        assert 0.0 <= row.precision <= 1.0
        assert 0.0 <= row.recall <= 1.0


def test_precision_and_recall_follow_from_the_counts(db: None) -> None:
    for row in parse(run()).rows.values():
        assert row.precision == pytest.approx(row.tp / (row.tp + row.fp), abs=5e-4)
        assert row.recall == pytest.approx(row.tp / (row.tp + row.fn), abs=5e-4)


def test_the_counts_add_up_to_the_messages(db: None) -> None:
    for row in parse(run()).rows.values():
        assert row.tp + row.fp + row.fn + row.tn == row.messages


def test_the_overall_row_sums_the_languages(db: None) -> None:
    rows = parse(run()).rows
    assert rows["all"].tp == rows["en"].tp + rows["fr"].tp
    assert rows["all"].fn == rows["en"].fn + rows["fr"].fn


def test_the_risk_labels_are_the_true_positives_and_misses(db: None) -> None:
    risky = Counter(item["language"] for item in csv_rows() if item["label"] == "risk")
    rows = parse(run()).rows
    assert {language: rows[language].tp + rows[language].fn for language in risky} == risky


@pytest.mark.parametrize("split", ["all", "development", "held-out"])
def test_a_split_counts_its_messages(db: None, split: str) -> None:
    rows = parse(run("--split", split)).rows
    assert {language: row.messages for language, row in rows.items()} == expected_counts(split)


def test_the_split_is_named_in_the_title(db: None) -> None:
    assert parse(run("--split", "held-out")).title.endswith("held-out split:")


def test_the_shipped_files_can_be_evaluated_instead(db: None) -> None:
    assert parse(run("--shipped")).title.startswith("Crisis lexicon (shipped files) on")


def test_the_database_lexicon_scores_as_the_shipped_files_before_any_edit(db: None) -> None:
    assert parse(run()).rows == parse(run("--shipped")).rows


def test_the_errors_are_listed_by_id_and_kind_only(db: None) -> None:
    lines = run("--errors").splitlines()
    missed = next(line for line in lines if line.startswith("missed: "))
    false_alarms = next(line for line in lines if line.startswith("false alarms: "))
    items = [
        item
        for line in (missed, false_alarms)
        for item in line.split(": ", 1)[1].split(", ")
        if item
    ]
    kinds = {item["kind"] for item in csv_rows()}
    ids = {item["id"] for item in csv_rows()}
    for item in items:
        found = re.fullmatch(r"((?:en|fr)-\d+) \((\w+)\)", item)
        assert found is not None
        assert found.group(1) in ids
        assert found.group(2) in kinds


def test_the_errors_count_the_misses_and_false_alarms(db: None) -> None:
    output = run("--errors")
    rows = parse(output).rows
    lines = output.splitlines()

    def listed(prefix: str) -> int:
        line = next(line for line in lines if line.startswith(prefix))
        return len([item for item in line.split(": ", 1)[1].split(", ") if item])

    assert listed("missed: ") == rows["all"].fn
    assert listed("false alarms: ") == rows["all"].fp


def test_no_message_text_is_printed(db: None) -> None:
    output = run("--errors").casefold()
    # Texts of a few characters (an emoji, "ok") could be in any output by chance.
    texts = [item["text"].casefold() for item in csv_rows() if len(item["text"]) > 6]
    assert [text for text in texts if text in output] == []


def test_without_errors_no_ids_are_listed(db: None) -> None:
    output = run()
    assert "missed:" not in output
    assert re.search(r"\b(?:en|fr)-\d+\b", output) is None


# A malformed set


def test_a_missing_column_is_refused(db: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "id,language,label,text", "en-001,en,risk,i want to die")
    with pytest.raises(CommandError, match="line 2: expected id,language,label,kind,text"):
        run("--file", str(path))


def test_a_short_row_is_refused(db: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER, "en-001,en,risk,suicidal_ideation,i want to die", "en-002")
    with pytest.raises(CommandError, match="line 3: expected id,language,label,kind,text"):
        run("--file", str(path))


def test_a_bad_label_is_refused(db: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER, "en-001,en,maybe,suicidal_ideation,i want to die")
    with pytest.raises(CommandError, match="line 2: the label is risk or ordinary"):
        run("--file", str(path))


def test_a_repeated_id_is_refused(db: None, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        "en-001,en,risk,suicidal_ideation,i want to die",
        "en-001,en,ordinary,ordinary,see you tuesday",
    )
    with pytest.raises(CommandError, match="line 3: the id en-001 is repeated"):
        run("--file", str(path))


def test_an_id_without_a_number_is_refused(db: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER, "en-one,en,risk,suicidal_ideation,i want to die")
    with pytest.raises(CommandError, match="line 2: an id ends in a number"):
        run("--file", str(path))


def test_an_empty_set_is_refused(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="the evaluation set is empty"):
        run("--file", str(write_csv(tmp_path, HEADER)))


def test_a_missing_set_is_refused(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read the evaluation set"):
        run("--file", str(tmp_path / "absent.csv"))


def test_a_language_without_a_shipped_lexicon_is_refused(db: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER, "de-001,de,risk,suicidal_ideation,ich will sterben")
    with pytest.raises(CommandError, match="no shipped lexicon for 'de'"):
        run("--file", str(path), "--shipped")


def test_a_small_set_is_scored(db: None, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER,
        "en-001,en,risk,suicidal_ideation,i want to die",
        "en-002,en,ordinary,ordinary,see you on tuesday",
    )
    row = parse(run("--file", str(path))).rows["en"]
    assert (row.tp, row.fp, row.fn, row.tn) == (1, 0, 0, 1)
