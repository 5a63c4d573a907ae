"""The description of every exported column: one source for the Frictionless Table Schema
in datapackage.json and for the human-readable codebook.md."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

from peerlink.errors import DomainError


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str  # Table Schema types: string, integer, number, boolean
    description: str
    values: tuple[str, ...] = ()  # allowed values of a categorical column
    labels: tuple[tuple[str, str], ...] = ()  # (value, meaning) shown in the codebook
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False

    def field(self) -> dict[str, Any]:
        field: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "description": self.description + (f" Unit: {self.unit}." if self.unit else ""),
        }
        constraints: dict[str, Any] = {}
        if self.required:
            constraints["required"] = True
        if self.values:
            constraints["enum"] = list(self.values)
        if self.minimum is not None:
            constraints["minimum"] = _number(self.minimum, self.type)
        if self.maximum is not None:
            constraints["maximum"] = _number(self.maximum, self.type)
        if constraints:
            field["constraints"] = constraints
        if self.type == "boolean":
            field["trueValues"] = ["true"]
            field["falseValues"] = ["false"]
        return field


def _number(value: float, type_: str) -> float | int:
    return int(value) if type_ == "integer" else value


@dataclasses.dataclass(frozen=True)
class Table:
    name: str  # the resource name; the file is <name>.csv
    title: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[tuple[str, str, str], ...] = ()  # (column, table, column)

    def __post_init__(self) -> None:
        # An instrument's item keys are its author's: one may be named like a fixed column.
        repeated = sorted(name for name, n in Counter(self.header).items() if n > 1)
        if repeated:
            raise DomainError(
                "export_columns",
                f"The {self.name} table would repeat the columns {', '.join(repeated)}: "
                "rename the instrument's items.",
            )

    @property
    def path(self) -> str:
        return f"{self.name}.csv"

    @property
    def header(self) -> list[str]:
        return [column.name for column in self.columns]

    def resource(self, *, rows: int, sha256: str, size: int) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "fields": [column.field() for column in self.columns],
            "missingValues": [""],
        }
        if self.primary_key:
            schema["primaryKey"] = list(self.primary_key)
        if self.foreign_keys:
            schema["foreignKeys"] = [
                {"fields": column, "reference": {"resource": table, "fields": target}}
                for column, table, target in self.foreign_keys
            ]
        return {
            "name": self.name,
            "path": self.path,
            "title": self.title,
            "description": self.description,
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "hash": f"sha256:{sha256}",
            "bytes": size,
            "schema": schema,
            "peerlink:rows": rows,
        }


def codebook_markdown(
    *, title: str, tables: Sequence[Table], notes: Sequence[str], metadata: dict[str, Any]
) -> str:
    lines = [f"# Codebook: {title}", ""]
    lines += [*notes, ""]
    deid = metadata.get("deidentification", {})
    if deid:
        lines += [
            "## De-identification",
            "",
            f"- k-anonymity with k = {deid['k']} on: {', '.join(deid['quasi_identifiers'])}.",
            f"- Smallest class of people sharing those values: {deid['smallest_class']}.",
            "- Values generalised (coarser, not removed): "
            + _per_column(deid["generalised_values"]),
            "- Values suppressed (replaced by `*`): " + _per_column(deid["suppressed_values"]),
            "- People left out for lack of research consent: "
            f"{metadata['excluded_without_research_consent']}.",
            "",
        ]
    for table in tables:
        lines += [f"## {table.path}: {table.title}", "", table.description, ""]
        lines += [
            "| column | type | description | allowed values | unit |",
            "| --- | --- | --- | --- | --- |",
        ]
        for column in table.columns:
            allowed = _allowed(column)
            description = column.description.replace("|", "/")
            lines.append(
                f"| `{column.name}` | {column.type} | {description} | {allowed} | {column.unit} |"
            )
        lines.append("")
    return "\n".join(lines)


def _per_column(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def _allowed(column: Column) -> str:
    if column.labels:
        return "; ".join(f"`{value}` {label}" for value, label in column.labels)
    if column.values:
        return ", ".join(f"`{value}`" for value in column.values)
    if column.minimum is not None or column.maximum is not None:
        low = "" if column.minimum is None else _number(column.minimum, column.type)
        high = "" if column.maximum is None else _number(column.maximum, column.type)
        return f"{low} to {high}".strip()
    if column.type == "boolean":
        return "`true`, `false`"
    return ""
