"""k-anonymity of quasi-identifiers (outcomes/export/anonymity.py), checked by counting the
published classes independently of the algorithm's own bookkeeping."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.export.anonymity import SUPPRESSED, NotAnonymisable, anonymise

NAMES = ("site", "age_band", "gender")
SITES = ("edmonton", "calgary", "red-deer")
AGES = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("woman", "man", "non_binary", "not_recorded")


def _published_classes(counts: dict[tuple[str, ...], int], published: dict) -> Counter:
    classes: Counter = Counter()
    for combo, count in counts.items():
        classes[published[combo]] += count
    return classes


def test_classes_already_of_size_k_keep_their_values() -> None:
    counts = {("edmonton", "25-34", "woman"): 5, ("calgary", "35-44", "man"): 7}
    result = anonymise(counts, quasi_identifiers=NAMES, k=5)
    assert result.published == {combo: combo for combo in counts}
    assert result.suppressed == {"site": 0, "age_band": 0, "gender": 0}


def test_a_rare_combination_is_generalised_until_its_class_reaches_k() -> None:
    counts = {
        ("edmonton", "25-34", "woman"): 6,
        ("edmonton", "18-24", "man"): 3,
        ("edmonton", "25-34", "man"): 3,
    }
    result = anonymise(counts, quasi_identifiers=NAMES, k=5)
    # Gender (listed last) goes first, then the age band is coarsened: the two small classes
    # meet as edmonton / 18-34 / *.
    assert result.published[("edmonton", "18-24", "man")] == ("edmonton", "18-34", SUPPRESSED)
    assert result.published[("edmonton", "25-34", "man")] == ("edmonton", "18-34", SUPPRESSED)
    assert result.published[("edmonton", "25-34", "woman")] == ("edmonton", "25-34", "woman")
    assert result.suppressed["gender"] == 6
    assert result.generalised["age_band"] == 6
    assert result.smallest_class == 6


def test_a_leftover_fully_suppressed_class_absorbs_the_smallest_other_class() -> None:
    counts = {("edmonton", "25-34", "woman"): 9, ("calgary", "65+", "man"): 1}
    result = anonymise(counts, quasi_identifiers=NAMES, k=5)
    assert set(result.published.values()) == {(SUPPRESSED,) * 3}
    assert result.smallest_class == 10


def test_fewer_records_than_k_is_refused() -> None:
    with pytest.raises(NotAnonymisable, match="fewer than k=5"):
        anonymise({("edmonton", "25-34", "woman"): 4}, quasi_identifiers=NAMES, k=5)


def test_an_unknown_quasi_identifier_is_refused() -> None:
    with pytest.raises(NotAnonymisable, match="postcode"):
        anonymise({("x",): 9}, quasi_identifiers=("postcode",), k=5)


def test_k_below_two_is_refused() -> None:
    with pytest.raises(NotAnonymisable, match="at least 2"):
        anonymise({("edmonton",): 9}, quasi_identifiers=("site",), k=1)


def test_no_records_is_an_empty_result() -> None:
    result = anonymise({}, quasi_identifiers=NAMES, k=5)
    assert result.published == {}
    assert result.smallest_class is None


@settings(max_examples=200, deadline=None)
@given(
    counts=st.dictionaries(
        st.tuples(st.sampled_from(SITES), st.sampled_from(AGES), st.sampled_from(GENDERS)),
        st.integers(min_value=1, max_value=12),
        min_size=1,
        max_size=40,
    ),
    k=st.integers(min_value=2, max_value=10),
)
def test_every_published_class_holds_at_least_k_records(counts: dict, k: int) -> None:
    if sum(counts.values()) < k:
        with pytest.raises(NotAnonymisable):
            anonymise(counts, quasi_identifiers=NAMES, k=k)
        return
    result = anonymise(counts, quasi_identifiers=NAMES, k=k)
    classes = _published_classes(counts, dict(result.published))
    assert min(classes.values()) >= k
    assert result.smallest_class == min(classes.values())
    assert sum(classes.values()) == sum(counts.values())
