"""Scoring (issue 8 items 1, 5 and 7): the built-in PHQ-9, GAD-7 and WHO-5 against totals
worked out by hand (minimum, maximum, every band boundary), risk rules, and one synthetic
instrument per scoring shape of the licensed instruments (mean, reversed items, subscales,
a multiplier, prorating for missing items)."""

from __future__ import annotations

import pytest

from outcomes.instrument_format import built_in
from outcomes.scoring import InvalidAnswer, score, tripped_rules
from tests.outcomes.instruments import answers, instrument

PHQ9 = built_in("phq9")
GAD7 = built_in("gad7")
WHO5 = built_in("who5")


def phq9(*values: int) -> dict[str, int]:
    return answers("phq9", list(values))


# --- PHQ-9: sum of items 1-9 (0-3 each), bands 0-4, 5-9, 10-14, 15-19, 20-27 ----------------


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ((0, 0, 0, 0, 0, 0, 0, 0, 0), 0, "Minimal"),
        ((1, 1, 1, 1, 0, 0, 0, 0, 0), 4, "Minimal"),
        ((1, 1, 1, 1, 1, 0, 0, 0, 0), 5, "Mild"),
        ((3, 3, 3, 0, 0, 0, 0, 0, 0), 9, "Mild"),
        ((3, 3, 3, 1, 0, 0, 0, 0, 0), 10, "Moderate"),
        ((2, 2, 2, 2, 2, 2, 2, 0, 0), 14, "Moderate"),
        ((3, 3, 3, 3, 3, 0, 0, 0, 0), 15, "Moderately severe"),
        ((3, 3, 3, 3, 3, 3, 1, 0, 0), 19, "Moderately severe"),
        ((3, 3, 3, 3, 3, 3, 2, 0, 0), 20, "Severe"),
        ((3, 3, 3, 3, 3, 3, 3, 3, 3), 27, "Severe"),
    ],
)
def test_phq9_totals_and_bands_at_every_boundary(
    values: tuple[int, ...], total: int, band: str
) -> None:
    result = score(PHQ9, phq9(*values))

    assert (result.total.value, result.band, result.complete) == (total, band, True)


def test_phq9_difficulty_item_is_asked_but_never_counted() -> None:
    with_difficulty = {**phq9(1, 1, 1, 1, 1, 1, 1, 1, 0), "phq9_10": 3}

    assert score(PHQ9, with_difficulty).total.value == 8


def test_phq9_item_9_above_zero_trips_the_risk_rule() -> None:
    result = score(PHQ9, phq9(0, 0, 0, 0, 0, 0, 0, 0, 1))

    assert [(r.item, r.severity, r.categories) for r in result.risk] == [
        ("phq9_9", "high", ("suicide", "self_harm"))
    ]


def test_phq9_item_9_at_zero_trips_nothing_however_high_the_rest() -> None:
    assert score(PHQ9, phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)).risk == ()


def test_a_risky_answer_counts_before_the_survey_is_complete() -> None:
    (rule,) = tripped_rules(PHQ9, {"phq9_9": 2})

    assert rule.item == "phq9_9"


def test_phq9_with_an_item_missing_is_incomplete_and_has_no_total() -> None:
    partial = phq9(3, 3, 3, 3, 3, 3, 3, 3)  # item 9 not answered

    result = score(PHQ9, partial)

    assert (result.complete, result.total.value, result.total.missing, result.band) == (
        False,
        None,
        1,
        None,
    )


# --- GAD-7: sum of 7 items (0-3), bands 0-4, 5-9, 10-14, 15-21 -------------------------------


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ((0, 0, 0, 0, 0, 0, 0), 0, "Minimal"),
        ((1, 1, 1, 1, 0, 0, 0), 4, "Minimal"),
        ((1, 1, 1, 1, 1, 0, 0), 5, "Mild"),
        ((3, 3, 3, 0, 0, 0, 0), 9, "Mild"),
        ((3, 3, 3, 1, 0, 0, 0), 10, "Moderate"),
        ((2, 2, 2, 2, 2, 2, 2), 14, "Moderate"),
        ((3, 3, 3, 3, 3, 0, 0), 15, "Severe"),
        ((3, 3, 3, 3, 3, 3, 3), 21, "Severe"),
    ],
)
def test_gad7_totals_and_bands_at_every_boundary(
    values: tuple[int, ...], total: int, band: str
) -> None:
    result = score(GAD7, answers("gad7", list(values)))

    assert (result.total.value, result.band) == (total, band)


# --- WHO-5: raw sum (0-25) x 4 = 0-100; 0-28 likely depression, 32-48 poor, 52+ adequate -----


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ((0, 0, 0, 0, 0), 0, "Likely depression (screen further)"),
        ((2, 2, 1, 1, 1), 28, "Likely depression (screen further)"),
        ((2, 2, 2, 1, 1), 32, "Poor well-being"),
        ((3, 3, 2, 2, 2), 48, "Poor well-being"),
        ((3, 3, 3, 2, 2), 52, "Adequate well-being"),
        ((5, 5, 5, 5, 5), 100, "Adequate well-being"),
    ],
)
def test_who5_percentage_and_bands(values: tuple[int, ...], total: int, band: str) -> None:
    result = score(WHO5, answers("who5", list(values)))

    assert (result.total.value, result.band) == (total, band)


# --- Synthetic instruments, one per scoring shape --------------------------------------------


def test_a_sum_with_reversed_items_counts_them_from_the_other_end() -> None:
    # PSS-10's shape: ten items 0-4, items 4, 5, 7 and 8 reversed.
    pss = instrument("pss", 10, reverse=(4, 5, 7, 8))
    given = [1, 2, 3, 4, 0, 1, 3, 2, 4, 0]
    # Reversed: item 4: 4 -> 0, item 5: 0 -> 4, item 7: 3 -> 1, item 8: 2 -> 2.
    # 1 + 2 + 3 + 0 + 4 + 1 + 1 + 2 + 4 + 0 = 18

    assert score(pss, answers("pss", given)).total.value == 18


def test_a_mean_with_reversed_items_keeps_two_decimals() -> None:
    # Brief Resilience Scale's shape: six items 1-5, items 2, 4 and 6 reversed, the mean.
    brs = instrument("brs", 6, low=1, high=5, reverse=(2, 4, 6), total={"method": "mean"})
    given = [4, 2, 5, 1, 3, 4]
    # Reversed: 2 -> 4, 1 -> 5, 4 -> 2; (4 + 4 + 5 + 5 + 3 + 2) / 6 = 23 / 6 = 3.8333...

    assert score(brs, answers("brs", given)).total.value == 3.83


def test_a_plain_sum_of_a_long_scale() -> None:
    # WEMWBS's shape: fourteen items 1-5, summed (14-70).
    wemwbs = instrument("wemwbs", 14, low=1, high=5)

    assert score(wemwbs, answers("wemwbs", [1] * 7 + [5] * 7)).total.value == 42


def test_a_mean_scale_with_subscales() -> None:
    # Recovery Assessment Scale's shape: items 1-5, the mean, and domain means.
    ras = instrument(
        "ras",
        6,
        low=1,
        high=5,
        total={"method": "mean"},
        scoring={
            "subscales": [
                {"key": "hope", "method": "mean", "items": ["ras_1", "ras_2", "ras_3"]},
                {"key": "reliance", "method": "mean", "items": ["ras_4", "ras_5", "ras_6"]},
            ]
        },
    )

    result = score(ras, answers("ras", [5, 4, 4, 2, 1, 1]))

    # Total 17 / 6 = 2.8333; hope 13 / 3 = 4.3333; reliance 4 / 3 = 1.3333.
    assert result.total.value == 2.83
    assert [(s.key, s.value) for s in result.subscales] == [("hope", 4.33), ("reliance", 1.33)]


def test_a_multiplied_mean_prorates_up_to_its_missing_limit_and_no_further() -> None:
    # CORE-OM's shape: items 0-4, the clinical score is the mean times 10, and it may be
    # computed with up to 3 items missing (here 8 items, so the limit is scaled down to 2).
    core = instrument("core", 8, total={"method": "mean", "multiplier": 10, "max_missing": 2})

    two_missing = score(core, answers("core", [1, 2, 3, 0, 1, 2]))
    three_missing = score(core, answers("core", [1, 2, 3, 0, 1]))

    # (1 + 2 + 3 + 0 + 1 + 2) / 6 * 10 = 15.0
    assert (two_missing.total.value, two_missing.total.missing, two_missing.complete) == (
        15.0,
        2,
        False,
    )
    assert (three_missing.total.value, three_missing.total.missing) == (None, 3)


def test_a_sum_with_a_missing_item_allowed_is_prorated() -> None:
    scale = instrument("pro", 4, total={"method": "sum", "max_missing": 1})

    # (3 + 2 + 2) / 3 * 4 = 9.333... -> 9
    assert score(scale, answers("pro", [3, 2, 2])).total.value == 9


def test_halves_round_up_as_the_manuals_do() -> None:
    scale = instrument("half", 4, total={"method": "mean", "decimals": 1})

    # (1 + 0 + 0 + 0) / 4 = 0.25 -> 0.3, where round(0.25, 1) gives 0.2.
    assert score(scale, answers("half", [1, 0, 0, 0])).total.value == 0.3


# --- Bad answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [4, -1, True])
def test_a_value_outside_the_items_options_is_refused(value: int) -> None:
    with pytest.raises(InvalidAnswer, match=r"phq9_1 takes one of \[0, 1, 2, 3\]"):
        score(PHQ9, {"phq9_1": value})


def test_an_unknown_item_is_refused() -> None:
    with pytest.raises(InvalidAnswer, match="no items"):
        score(PHQ9, {"phq9_11": 0})
