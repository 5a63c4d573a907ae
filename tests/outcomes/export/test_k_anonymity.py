"""The exported participants table is k-anonymous on its quasi-identifiers, as measured by an
independent implementation (pyCANON), and no more values are hidden than needed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from pycanon import anonymity

from outcomes.export.anonymity import SUPPRESSED
from outcomes.export.services import export_programme
from programmes.models import AgeBand, Gender, Programme
from tests.outcomes.export.exports import package
from tests.support.factories import enrol, make_programme

pytestmark = pytest.mark.django_db

# 30 people in common combinations (north, 25-34 or 35-44, woman or man) and a handful of
# rare ones: an older non-binary person in the south, the only 18-24 year old, and so on.
COMMON = list(
    itertools.product(
        ("north",), (AgeBand.AGE_25_34, AgeBand.AGE_35_44), (Gender.WOMAN, Gender.MAN)
    )
)
RARE = [
    ("south", AgeBand.AGE_65_PLUS, Gender.NON_BINARY),
    ("south", AgeBand.AGE_18_24, Gender.WOMAN),
    ("south", AgeBand.AGE_55_64, Gender.MAN),
    ("north", AgeBand.AGE_45_54, Gender.ANOTHER),
    ("south", AgeBand.AGE_25_34, Gender.WOMAN),
    ("south", AgeBand.AGE_25_34, Gender.WOMAN),
]


@pytest.fixture
def programme() -> Programme:
    programme = make_programme()
    people = [combo for combo in COMMON for _ in range(6)] + RARE
    for site, age_band, gender in people:
        enrol(
            programme,
            site=site,
            age_band=age_band,
            gender=gender,
            research_consent=True,
            peer_support=None,
        )
    return programme


def _participants(directory: Path) -> pd.DataFrame:
    return pd.read_csv(directory / "participants.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("k", [2, 5, 7])
def test_the_participants_table_is_k_anonymous_by_pycanon(
    programme: Programme, tmp_path: Path, k: int
) -> None:
    result = export_programme(programme=programme, out_dir=tmp_path / "export", k=k)
    frame = _participants(result.directory)
    assert len(frame) == len(COMMON) * 6 + len(RARE)
    assert anonymity.k_anonymity(frame, ["site", "age_band", "gender"]) >= k


def test_common_combinations_keep_their_values(programme: Programme, tmp_path: Path) -> None:
    result = export_programme(programme=programme, out_dir=tmp_path / "export", k=5)
    frame = _participants(result.directory)
    kept = frame[(frame.site == "north") & (frame.age_band == "25-34") & (frame.gender == "woman")]
    assert len(kept) == 6


def test_the_metadata_counts_what_was_generalised_and_suppressed(
    programme: Programme, tmp_path: Path
) -> None:
    result = export_programme(programme=programme, out_dir=tmp_path / "export", k=5)
    frame = _participants(result.directory)
    deid = package(result.directory)["peerlink:deidentification"]
    for column in ("site", "age_band", "gender"):
        assert deid["suppressed_values"][column] == int((frame[column] == SUPPRESSED).sum())
    recorded = {value for value, _ in AgeBand.choices}
    assert deid["generalised_values"]["age_band"] == int(
        ((~frame.age_band.isin(recorded)) & (frame.age_band != SUPPRESSED)).sum()
    )
    assert sum(deid["suppressed_values"].values()) > 0
    assert deid["k"] == 5 and deid["smallest_class"] >= 5


def test_other_quasi_identifiers_can_be_chosen(programme: Programme, tmp_path: Path) -> None:
    result = export_programme(
        programme=programme,
        out_dir=tmp_path / "export",
        k=5,
        quasi_identifiers=("site", "age_band", "gender", "arm"),
    )
    frame = _participants(result.directory)
    assert anonymity.k_anonymity(frame, ["site", "age_band", "gender", "arm"]) >= 5
    assert package(result.directory)["peerlink:deidentification"]["quasi_identifiers"] == [
        "site",
        "age_band",
        "gender",
        "arm",
    ]
