"""The REDCap-compatible option: one flat longitudinal file and the files that describe it.

REDCap imports a project from a data dictionary (one row per field, 18 fixed columns), its
events and which form each event collects (instrument designations), and then data as one
CSV whose first column is `record_id`, whose second is `redcap_event_name`, and in which
each form has a `<form>_complete` status (0 incomplete, 1 unverified, 2 complete). The
participants form sits on an enrolment event; each survey timepoint is an event holding
every instrument asked then, so that one person's timepoint is one row.

Hand-written: no maintained library writes REDCap's import formats (PyCap talks to a live
REDCap server's API).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from outcomes.export.codebook import Column, Table
from outcomes.export.files import ExportedFile, describe, write_csv
from outcomes.export.keys import Pseudonymiser
from outcomes.export.sources import SessionRow
from outcomes.instrument_format import InstrumentSpec
from outcomes.models import SurveyTimepoint
from peerlink.errors import DomainError

ARM = 1
ENROLMENT_EVENT = "enrolment_arm_1"  # event_name("enrolment") were it not reserved
PARTICIPANTS_FORM = "participants"
INCOMPLETE, UNVERIFIED, COMPLETE = 0, 1, 2
# Survey columns that the event or the form status already say.
_SAID_BY_EVENT_OR_STATUS = {"pid", "timepoint", "target_day", "complete"}
# REDCap makes an event's unique name from its name: lowercased, other characters as "_",
# cut to 18, then "_arm_N". The events file gives names already in that form, so that the
# unique names REDCap makes are the ones the data file uses.
_EVENT_NAME_CHARS = 18

DICTIONARY_HEADER = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
# No unique_event_name column: given one, REDCap updates that event instead of adding it.
EVENTS_HEADER = (
    "event_name",
    "arm_num",
    "day_offset",
    "offset_min",
    "offset_max",
    "custom_event_label",
)
DESIGNATIONS_HEADER = ("arm_num", "unique_event_name", "form")


def variable_name(text: str) -> str:
    """A REDCap variable or form name: lowercase letters, digits and underscores, starting
    with a letter."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    return name if name[:1].isalpha() else f"v_{name}"


class RedcapNamesError(DomainError):
    def __init__(self, detail: str) -> None:
        super().__init__("redcap_names", detail)


ENROLMENT_STEM = "enrolment"


def event_stem(timepoint_code: str) -> str:
    stem = variable_name(timepoint_code)[:_EVENT_NAME_CHARS].rstrip("_")
    return "tp_enrolment" if stem == ENROLMENT_STEM else stem


def event_name(timepoint_code: str) -> str:
    return f"{event_stem(timepoint_code)}_arm_{ARM}"


def _refuse_repeats(names: Sequence[str], what: str) -> None:
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise RedcapNamesError(
            f"REDCap {what} would repeat: {', '.join(repeated)}. Rename the timepoints or "
            "instrument items, or export without --redcap."
        )


@dataclasses.dataclass(frozen=True)
class Field:
    column: Column
    name: str  # the REDCap variable
    form: str


@dataclasses.dataclass(frozen=True)
class Form:
    name: str
    slug: str
    fields: tuple[Field, ...]  # in the survey table's column order, without the skipped ones
    positions: tuple[int, ...]  # index of each field's value in survey_values()


def participants_fields(table: Table) -> tuple[Field, ...]:
    return tuple(
        Field(column=column, name=variable_name(column.name), form=PARTICIPANTS_FORM)
        for column in table.columns[1:]
    )


def survey_form(table: Table, spec: InstrumentSpec) -> Form:
    form = variable_name(spec.slug)
    items = {item.key for item in spec.items}
    fields, positions = [], []
    for position, column in enumerate(table.columns[1:]):
        if column.name in _SAID_BY_EVENT_OR_STATUS:
            continue
        if column.name in items:
            name = variable_name(column.name)
            name = name if name.startswith(f"{form}_") else f"{form}_{name}"
        else:
            name = f"{form}_{variable_name(column.name)}"
        fields.append(Field(column=column, name=name, form=form))
        positions.append(position)
    return Form(name=form, slug=spec.slug, fields=tuple(fields), positions=tuple(positions))


def form_status(row: SessionRow) -> int:
    if row.complete:
        return COMPLETE
    return UNVERIFIED if row.answered else INCOMPLETE


class RedcapLayout:
    """The flat file's columns: record_id, redcap_event_name, then each form's fields and its
    `<form>_complete`, participants first, then the surveys in table order."""

    def __init__(
        self, participants: Table, surveys: Sequence[tuple[Table, InstrumentSpec]]
    ) -> None:
        self.participant_fields = participants_fields(participants)
        self.forms = {spec.slug: survey_form(table, spec) for table, spec in surveys}
        self.header = ["record_id", "redcap_event_name"]
        self.header += [field.name for field in self.participant_fields]
        self.header.append(f"{PARTICIPANTS_FORM}_complete")
        self._start: dict[str, int] = {}
        for form in self.forms.values():
            self._start[form.slug] = len(self.header)
            self.header += [field.name for field in form.fields]
            self.header.append(f"{form.name}_complete")
        _refuse_repeats(self.header, "variable names")

    def participant_row(self, cells: Sequence[object]) -> list[object]:
        """`cells` is a participants.csv row: pid first, then the form's fields."""
        row: list[object] = [None] * len(self.header)
        row[0], row[1] = cells[0], ENROLMENT_EVENT
        row[2 : 2 + len(self.participant_fields)] = cells[1:]
        row[2 + len(self.participant_fields)] = COMPLETE
        return row

    def timepoint_row(
        self, *, record_id: str, event: str, sessions: Iterable[tuple[SessionRow, Sequence[object]]]
    ) -> list[object]:
        """`sessions` are one person's sessions at one timepoint, each with its survey table
        values after pid."""
        row: list[object] = [None] * len(self.header)
        row[0], row[1] = record_id, event
        for session, values in sessions:
            form = self.forms[session.instrument]
            start = self._start[form.slug]
            for offset, position in enumerate(form.positions):
                row[start + offset] = values[position]
            row[start + len(form.fields)] = form_status(session)
        return row


def _timepoint_rows(
    layout: RedcapLayout,
    sessions: Iterable[tuple[SessionRow, Sequence[object]]],
    pseudonymiser: Pseudonymiser,
) -> Iterator[list[object]]:
    """Sessions come ordered by enrolment: one person's are gathered per timepoint (a few
    rows), then written as one row per timepoint."""
    for _, own in itertools.groupby(sessions, key=lambda pair: pair[0].enrolment_id):
        by_timepoint: dict[str, list[tuple[SessionRow, Sequence[object]]]] = {}
        for session, values in own:
            by_timepoint.setdefault(session.timepoint, []).append((session, values))
        for timepoint, asked in by_timepoint.items():
            yield layout.timepoint_row(
                record_id=pseudonymiser.pid(asked[0][0].participant_id),
                event=event_name(timepoint),
                sessions=asked,
            )


def _bound(value: float | None, type_: str) -> object:
    if value is None:
        return None
    return int(value) if type_ == "integer" else value


def _dictionary_row(name: str, form: str, column: Column) -> list[object]:
    choices = note = validation = ""
    low: object = None
    high: object = None
    if column.type == "integer" and column.labels:
        field_type = "radio"
        choices = " | ".join(f"{value}, {label}" for value, label in column.labels)
    else:
        field_type = "text"
        validation = {"integer": "integer", "number": "number"}.get(column.type, "")
        if validation:
            low, high = _bound(column.minimum, column.type), _bound(column.maximum, column.type)
        if column.labels:
            note = "Codes: " + "; ".join(f"{value} = {label}" for value, label in column.labels)
        elif column.values:
            note = "Codes: " + ", ".join(column.values)
    if column.unit:
        note = f"{note} Unit: {column.unit}.".strip()
    return [
        name,
        form,
        "",
        field_type,
        column.description,
        choices,
        note,
        validation,
        low,
        high,
        "",
        "",
        "y" if column.required else "",
        "",
        "",
        "",
        "",
        "",
    ]


def write_redcap(
    *,
    directory: Path,
    layout: RedcapLayout,
    participant_cells: Iterable[Sequence[object]],
    sessions: Iterable[tuple[SessionRow, Sequence[object]]],
    timepoints: Sequence[SurveyTimepoint],
    designations: Mapping[str, Iterable[str]],
    pseudonymiser: Pseudonymiser,
) -> list[ExportedFile]:
    """redcap.csv, redcap_data_dictionary.csv, redcap_events.csv and
    redcap_instrument_designations.csv. `designations` are the instrument slugs asked at each
    timepoint code (the schedule's and any a session asked)."""
    _refuse_repeats([ENROLMENT_STEM, *(event_stem(tp.code) for tp in timepoints)], "event names")
    data = directory / "redcap.csv"
    rows = write_csv(
        data,
        header=layout.header,
        rows=itertools.chain(
            (layout.participant_row(cells) for cells in participant_cells),
            _timepoint_rows(layout, sessions, pseudonymiser),
        ),
    )
    record_id = Column("record_id", "string", "Pseudonymous participant id (pid).", required=True)
    dictionary = directory / "redcap_data_dictionary.csv"
    dictionary_rows = [
        _dictionary_row("record_id", PARTICIPANTS_FORM, record_id),
        *(_dictionary_row(f.name, f.form, f.column) for f in layout.participant_fields),
        *(
            _dictionary_row(f.name, f.form, f.column)
            for form in layout.forms.values()
            for f in form.fields
        ),
    ]
    fields_count = write_csv(dictionary, header=DICTIONARY_HEADER, rows=dictionary_rows)
    events = directory / "redcap_events.csv"
    event_rows = [(ENROLMENT_STEM, ARM, 0, 0, 0, "Enrolment")] + [
        (event_stem(tp.code), ARM, tp.offset_days, 0, tp.window_days, tp.label) for tp in timepoints
    ]
    events_count = write_csv(events, header=EVENTS_HEADER, rows=event_rows)
    designated = directory / "redcap_instrument_designations.csv"
    designation_rows = [(ARM, ENROLMENT_EVENT, PARTICIPANTS_FORM)] + [
        (ARM, event_name(tp.code), layout.forms[slug].name)
        for tp in timepoints
        for slug in sorted(set(designations.get(tp.code, ())))
        if slug in layout.forms
    ]
    designations_count = write_csv(designated, header=DESIGNATIONS_HEADER, rows=designation_rows)
    return [
        describe(data, rows=rows),
        describe(dictionary, rows=fields_count),
        describe(events, rows=events_count),
        describe(designated, rows=designations_count),
    ]
