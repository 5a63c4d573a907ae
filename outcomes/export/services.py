"""export_programme: the evaluator's export of one programme (DESIGN.md data flow 7).

Every table is read in one REPEATABLE READ, READ ONLY transaction on PostgreSQL, so that the
participants, their surveys and their engagement are one consistent snapshot however long
the export takes, and no row is locked. Files are written into a hidden sibling folder and
moved into place only when every one is complete, then audited (and removed if the audit
fails): whoever finds the folder finds a whole, audited export, never half of one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import secrets
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import services as audit
from outcomes.export import redcap
from outcomes.export.anonymity import (
    DEFAULT_K,
    DEFAULT_QUASI_IDENTIFIERS,
    HIERARCHIES,
    Anonymisation,
    NotAnonymisable,
    anonymise,
)
from outcomes.export.codebook import Table, codebook_markdown
from outcomes.export.files import ExportedFile, describe, write_csv
from outcomes.export.keys import ExportKeyError, Pseudonymiser, export_key
from outcomes.export.sources import (
    ENGAGEMENT_COUNTS,
    SessionRow,
    engagement_weeks,
    exported_enrolments,
    participant_rows,
    quasi_identifier_counts,
    session_rows,
)
from outcomes.export.tables import (
    engagement_table,
    participants_table,
    survey_table,
)
from outcomes.instrument_format import InstrumentSpec
from outcomes.models import Instrument, SurveySession, SurveyTimepoint
from outcomes.selectors import newest_instrument, spec_of
from peerlink.errors import DomainError
from people.models import User
from programmes.models import Enrolment, Programme

NOTES = (
    "Exported by peerlink. Time is days (or weeks) since each person's day of enrolment, in "
    "their time zone: the "
    "export holds no calendar date, name, phone number, email address or message text.",
    "`pid` is a pseudonym (keyed HMAC-SHA256): it joins the tables of this export and of "
    "later exports made with the same study key, and nothing else.",
    "An empty cell is a missing value.",
)


REDCAP_NOTE = (
    "`redcap.csv` holds the same data for a longitudinal REDCap project: import "
    "`redcap_data_dictionary.csv`, `redcap_events.csv` and "
    "`redcap_instrument_designations.csv` first, then the data."
)


class ExportError(DomainError):
    pass


@dataclasses.dataclass(frozen=True)
class ExportResult:
    directory: Path
    files: tuple[ExportedFile, ...]
    participants: int
    excluded_without_research_consent: int
    deidentification: dict[str, Any]


def export_programme(
    *,
    programme: Programme,
    out_dir: Path,
    requested_by: User | None = None,
    k: int = DEFAULT_K,
    quasi_identifiers: Sequence[str] = DEFAULT_QUASI_IDENTIFIERS,
    redcap_files: bool = False,
    now: dt.datetime | None = None,
) -> ExportResult:
    """Writes the programme's anonymised export into `out_dir` (absent or empty), audits it
    and says what it wrote. Every refusal comes before the first file is written; a failure
    later leaves no file behind."""
    quasi = checked_parameters(k=k, quasi_identifiers=quasi_identifiers)
    target = _checked_target(out_dir)
    try:
        pseudonymiser = Pseudonymiser(export_key(programme.slug))
    except ExportKeyError as exc:
        raise ExportError("export_key", exc.message) from None
    partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex}"
    partial.mkdir(parents=True)
    try:
        with _snapshot():
            files, participants, excluded, anonymisation = _write_all(
                programme=programme,
                directory=partial,
                pseudonymiser=pseudonymiser,
                k=k,
                quasi_identifiers=quasi,
                redcap_files=redcap_files,
                now=now or timezone.now(),
            )
        partial.replace(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        audit.record(
            action="export.created",
            actor=requested_by,
            target=programme,
            details={
                "k": k,
                "quasi_identifiers": list(quasi),
                "redcap": redcap_files,
                "participants": participants,
                "excluded_without_research_consent": excluded,
                "suppressed_values": dict(anonymisation.suppressed),
                "files": [file.audit() for file in files],
            },
        )
    except BaseException:
        # No export without its audit entry.
        shutil.rmtree(target, ignore_errors=True)
        raise
    return ExportResult(
        directory=target,
        files=files,
        participants=participants,
        excluded_without_research_consent=excluded,
        deidentification=anonymisation.metadata(),
    )


def checked_parameters(*, k: int, quasi_identifiers: Sequence[str]) -> tuple[str, ...]:
    quasi = tuple(quasi_identifiers)
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ExportError("invalid_export_parameters", "k must be a whole number of at least 2.")
    unknown = [name for name in quasi if name not in HIERARCHIES]
    if unknown or not quasi or len(set(quasi)) != len(quasi):
        raise ExportError(
            "invalid_export_parameters",
            f"Quasi-identifiers are one or more distinct names among: {', '.join(HIERARCHIES)}.",
        )
    return quasi


def _checked_target(out_dir: Path) -> Path:
    target = Path(out_dir).expanduser().absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError(
            "export_target_not_empty",
            "The export folder must not exist yet, or be empty: an export never mixes with "
            "other files.",
        )
    return target


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """One transaction that sees one moment. PostgreSQL's default (READ COMMITTED) would let
    a survey completed mid-export appear in one table and not another."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _write_all(
    *,
    programme: Programme,
    directory: Path,
    pseudonymiser: Pseudonymiser,
    k: int,
    quasi_identifiers: tuple[str, ...],
    redcap_files: bool,
    now: dt.datetime,
) -> tuple[tuple[ExportedFile, ...], int, int, Anonymisation]:
    enrolments = exported_enrolments(programme)
    # Orders this export's rows (outcomes/export/sources.py); forgotten afterwards.
    salt = secrets.token_hex(16)
    try:
        anonymisation = anonymise(
            quasi_identifier_counts(enrolments, quasi_identifiers),
            quasi_identifiers=quasi_identifiers,
            k=k,
        )
    except NotAnonymisable as exc:
        raise ExportError("not_anonymisable", str(exc)) from None
    excluded = Enrolment.objects.filter(programme=programme).count() - anonymisation.records
    tracks = sorted(enrolments.order_by().values_list("track", flat=True).distinct())
    timepoints = _timepoints(programme)
    surveys = [
        (survey_table(spec, versions=versions, timepoints=timepoints), spec)
        for spec, versions in _surveys(enrolments, timepoints)
    ]
    people = participants_table(programme, tracks=tracks, quasi_identifiers=quasi_identifiers)
    names = [people.name, *(table.name for table, _ in surveys)]
    if len(set(names)) != len(names):
        raise ExportError(
            "export_columns", "Two instruments' slugs give the same table name: rename one."
        )

    def participant_cells() -> Iterator[list[object]]:
        return _participant_cells(enrolments, pseudonymiser, anonymisation, now=now, salt=salt)

    def sessions(slug: str | None = None) -> Iterator[tuple[SessionRow, list[object]]]:
        specs = {spec.slug: spec for _, spec in surveys}
        for row in session_rows(enrolments, instrument=slug, salt=salt):
            if row.instrument in specs:
                yield row, survey_values(row, specs[row.instrument])

    tables: list[tuple[Table, Iterable[Sequence[object]]]] = [
        (people, participant_cells()),
        *(
            (
                table,
                (
                    [pseudonymiser.pid(row.participant_id), *values]
                    for row, values in sessions(spec.slug)
                ),
            )
            for table, spec in surveys
        ),
        (engagement_table(), _engagement_cells(programme, enrolments, pseudonymiser, salt=salt)),
    ]
    table_files = [
        describe(
            directory / table.path,
            rows=write_csv(directory / table.path, header=table.header, rows=rows),
        )
        for table, rows in tables
    ]
    files = list(table_files)
    notes = list(NOTES)
    if redcap_files:
        notes.append(REDCAP_NOTE)
        files += redcap.write_redcap(
            directory=directory,
            layout=redcap.RedcapLayout(people, surveys),
            participant_cells=participant_cells(),
            sessions=sessions(),
            timepoints=timepoints,
            designations=_asked_at(enrolments, timepoints),
            pseudonymiser=pseudonymiser,
        )
    metadata = {
        "deidentification": anonymisation.metadata(),
        "excluded_without_research_consent": excluded,
    }
    package = {
        "profile": "tabular-data-package",
        "name": f"peerlink-{programme.slug}",
        "title": f"{programme.name}: anonymised outcomes and engagement",
        "description": " ".join(NOTES),
        "resources": [
            table.resource(rows=file.rows or 0, sha256=file.sha256, size=file.bytes)
            for (table, _), file in zip(tables, table_files, strict=True)
        ],
        "peerlink:deidentification": metadata["deidentification"],
        "peerlink:excluded_without_research_consent": excluded,
    }
    (directory / "datapackage.json").write_text(
        json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (directory / "codebook.md").write_text(
        codebook_markdown(
            title=programme.name,
            tables=[table for table, _ in tables],
            notes=notes,
            metadata=metadata,
        ),
        encoding="utf-8",
    )
    files += [describe(directory / name, rows=None) for name in ("datapackage.json", "codebook.md")]
    return tuple(files), anonymisation.records, excluded, anonymisation


def _timepoints(programme: Programme) -> list[SurveyTimepoint]:
    return list(
        SurveyTimepoint.objects.filter(schedule__programme=programme).order_by(
            "offset_days", "code"
        )
    )


def _surveys(
    enrolments: Any, timepoints: Sequence[SurveyTimepoint]
) -> list[tuple[InstrumentSpec, list[str]]]:
    """Every instrument the schedule names or a session asked, with its stored versions. The
    columns are the newest version's: items an older version had and the newest dropped are
    not exported (the instrument_version column says which version was asked)."""
    slugs = {slug for tp in timepoints for slug in tp.instruments}
    slugs |= set(
        SurveySession.objects.filter(enrolment__in=enrolments.values("pk"))
        .order_by()
        .values_list("instrument_slug", flat=True)
        .distinct()
    )
    surveys = []
    for slug in sorted(slugs):
        newest = newest_instrument(slug)
        if newest is None:
            continue
        versions = sorted(Instrument.objects.filter(slug=slug).values_list("version", flat=True))
        surveys.append((spec_of(newest), versions))
    return surveys


def _asked_at(enrolments: Any, timepoints: Sequence[SurveyTimepoint]) -> dict[str, set[str]]:
    """The instruments of each timepoint: the schedule's now, and any a session asked."""
    asked = {tp.code: set(tp.instruments) for tp in timepoints}
    pairs = (
        SurveySession.objects.filter(enrolment__in=enrolments.values("pk"))
        .order_by()
        .values_list("timepoint__code", "instrument_slug")
        .distinct()
    )
    for code, slug in pairs:
        asked.setdefault(code, set()).add(slug)
    return asked


def _participant_cells(
    enrolments: Any,
    pseudonymiser: Pseudonymiser,
    anonymisation: Anonymisation,
    *,
    now: dt.datetime,
    salt: str,
) -> Iterator[list[object]]:
    names = anonymisation.quasi_identifiers
    for row in participant_rows(enrolments, now=now, salt=salt):
        published = anonymisation.published.get(tuple(getattr(row, name) for name in names))
        if published is None:
            # Enrolled after the counts were taken: possible only when a caller's own
            # transaction is READ COMMITTED (the snapshot could not be set). Not counted, so
            # not published.
            continue
        # The quasi-identifiers as published; the other columns as recorded.
        shown = {
            "arm": row.arm,
            "site": row.site,
            "age_band": row.age_band,
            "gender": row.gender,
            "track": row.track,
            **dict(zip(names, published, strict=True)),
        }
        yield [
            pseudonymiser.pid(row.participant_id),
            shown["arm"],
            shown["site"],
            shown["age_band"],
            shown["gender"],
            shown["track"],
            row.status,
            row.exit_day,
            row.opt_out_day,
            row.weeks_observed,
        ]


def survey_values(row: SessionRow, spec: InstrumentSpec) -> list[object]:
    """The result columns of one session, after pid, in the survey table's order."""
    return [
        row.version,
        row.timepoint,
        row.target_day,
        row.day,
        None if row.day is None else row.day - row.target_day,
        row.channel,
        row.state,
        row.complete,
        row.answered,
        *(row.answers.get(item.key) for item in spec.items),
        row.total,
        *(row.subscales.get(score.key) for score in spec.subscales),
        row.band,
    ]


def _engagement_cells(
    programme: Programme, enrolments: Any, pseudonymiser: Pseudonymiser, *, salt: str
) -> Iterator[list[object]]:
    for week in engagement_weeks(programme, enrolments, salt=salt):
        yield [
            pseudonymiser.pid(week.participant_id),
            week.week,
            *(week.counts[name] for name in ENGAGEMENT_COUNTS),
            len(week.response_minutes),
            week.first_response_median_minutes,
            week.first_response_max_minutes,
        ]
