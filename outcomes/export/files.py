"""Writing the export's files: CSV a row at a time, and the size and hash of each written."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class ExportedFile:
    name: str
    rows: int | None  # None for a file that is not a table (datapackage.json, codebook.md)
    sha256: str
    bytes: int

    def audit(self) -> dict[str, object]:
        return {"name": self.name, "rows": self.rows, "sha256": self.sha256, "bytes": self.bytes}


def cell(value: object) -> object:
    """A value as Table Schema reads it: empty for missing, lowercase booleans."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value


def write_csv(path: Path, *, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Streams `rows` into `path` (RFC 4180, UTF-8, a header line first) and says how many."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([cell(value) for value in row])
            count += 1
    return count


def describe(path: Path, *, rows: int | None) -> ExportedFile:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return ExportedFile(name=path.name, rows=rows, sha256=digest, bytes=path.stat().st_size)
