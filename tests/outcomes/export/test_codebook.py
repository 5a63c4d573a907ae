"""The exported tables' descriptions (outcomes/export/codebook.py)."""

from __future__ import annotations

import pytest

from outcomes.export.codebook import Column, Table
from peerlink.errors import DomainError


def test_a_table_refuses_two_columns_of_one_name() -> None:
    # An instrument's author may name an item like a fixed column ("total", "day").
    with pytest.raises(DomainError, match="repeat the columns total") as refused:
        Table(
            name="survey_x",
            title="X",
            description="",
            columns=(Column("total", "number", "Total."), Column("total", "integer", "Item.")),
        )
    assert refused.value.code == "export_columns"


def test_a_categorical_column_lists_its_values_as_a_table_schema_enum() -> None:
    column = Column("arm", "string", "Arm.", values=("a", "b"), required=True)
    assert column.field()["constraints"] == {"required": True, "enum": ["a", "b"]}
