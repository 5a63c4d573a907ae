"""k-anonymity of the participants' quasi-identifiers, by generalising and then suppressing.

Hand-written: the anonymisation libraries on PyPI (pyCANON, used by the tests to check the
result independently) measure k-anonymity but do not make a table k-anonymous, and the
ones that do (ARX) are Java. The algorithm works on equivalence classes, never on rows, so
its memory is the number of distinct combinations, not the number of people.

Each quasi-identifier has a hierarchy of levels, from the recorded value to "*" (suppressed).
Records in a class smaller than k move up one level of one quasi-identifier at a time, the
last-listed quasi-identifier first (list the ones analyses need most first), until their
class reaches k or every value is "*". If the fully suppressed class is still smaller than
k, the smallest other class joins it. Records already in a class of k or more keep their
values: that is local recoding, which suppresses far less than recoding a whole column.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

SUPPRESSED = "*"

Combo = tuple[str, ...]

_AGE_COARSE = {
    "18-24": "18-34",
    "25-34": "18-34",
    "35-44": "35-54",
    "45-54": "35-54",
    "55-64": "55+",
    "65+": "55+",
}


def _coarse_age(value: str) -> str:
    return _AGE_COARSE.get(value, value)


def _suppress(_value: str) -> str:
    return SUPPRESSED


# Levels above the recorded value; the last is always suppression.
HIERARCHIES: dict[str, tuple[Callable[[str], str], ...]] = {
    "site": (_suppress,),
    "age_band": (_coarse_age, _suppress),
    "gender": (_suppress,),
    "track": (_suppress,),
    "arm": (_suppress,),
}
DEFAULT_QUASI_IDENTIFIERS = ("site", "age_band", "gender")
DEFAULT_K = 5
# The values a generalised column may hold beyond its recorded ones (for the codebook).
GENERALISED_VALUES: dict[str, tuple[str, ...]] = {
    "age_band": ("18-34", "35-54", "55+", SUPPRESSED),
}


@dataclasses.dataclass(frozen=True)
class Anonymisation:
    k: int
    quasi_identifiers: tuple[str, ...]
    published: Mapping[Combo, Combo]  # recorded combination -> published combination
    generalised: Mapping[str, int]  # values coarsened but not suppressed, per column
    suppressed: Mapping[str, int]  # values replaced by "*", per column
    records: int
    smallest_class: int | None  # None when there are no records

    def metadata(self) -> dict[str, object]:
        return {
            "k": self.k,
            "quasi_identifiers": list(self.quasi_identifiers),
            "records": self.records,
            "smallest_class": self.smallest_class,
            "generalised_values": dict(self.generalised),
            "suppressed_values": dict(self.suppressed),
        }


class NotAnonymisable(ValueError):
    pass


def _next_to_generalise(
    combo_levels: tuple[int, ...], order: Sequence[int], depth: Sequence[int]
) -> int:
    """The index in `order` of the next quasi-identifier to generalise, or -1 when all are
    suppressed."""
    for position, index in enumerate(order):
        if combo_levels[index] < depth[index]:
            return position
    return -1


def anonymise(
    counts: Mapping[Combo, int], *, quasi_identifiers: Sequence[str], k: int
) -> Anonymisation:
    """The published combination of every recorded one, such that each published combination
    is shared by at least k records. `counts` are the records per recorded combination."""
    names = tuple(quasi_identifiers)
    if k < 2:
        raise NotAnonymisable("k must be at least 2.")
    unknown = [name for name in names if name not in HIERARCHIES]
    if unknown:
        raise NotAnonymisable(f"Unknown quasi-identifiers: {', '.join(unknown)}.")
    total = sum(counts.values())
    if 0 < total < k:
        raise NotAnonymisable(
            f"There are {total} records, fewer than k={k}: no export of them can be "
            "k-anonymous. Lower k or wait for more enrolments."
        )
    depth = [len(HIERARCHIES[name]) for name in names]
    order = list(reversed(range(len(names))))  # the last-listed is generalised first
    # recorded combination -> how far up its hierarchy each quasi-identifier has gone
    levels: dict[Combo, tuple[int, ...]] = {combo: (0,) * len(names) for combo in counts}

    def publish(combo: Combo, at: tuple[int, ...]) -> Combo:
        values = list(combo)
        for index, level in enumerate(at):
            for step in HIERARCHIES[names[index]][:level]:
                values[index] = step(values[index])
        return tuple(values)

    while True:
        sizes: Counter[Combo] = Counter()
        for combo, count in counts.items():
            sizes[publish(combo, levels[combo])] += count
        moved = False
        for combo in counts:
            at = levels[combo]
            if sizes[publish(combo, at)] >= k:
                continue
            position = _next_to_generalise(at, order, depth)
            if position < 0:
                continue
            index = order[position]
            levels[combo] = (*at[:index], at[index] + 1, *at[index + 1 :])
            moved = True
        if not moved:
            break
    all_suppressed = (SUPPRESSED,) * len(names)
    if 0 < sizes.get(all_suppressed, 0) < k:
        others = sorted(
            (size, published) for published, size in sizes.items() if published != all_suppressed
        )
        if not others:
            raise NotAnonymisable("No generalisation reaches k.")  # unreachable: total >= k
        _, smallest = others[0]
        for combo in counts:
            if publish(combo, levels[combo]) == smallest:
                levels[combo] = tuple(depth)
    published = {combo: publish(combo, levels[combo]) for combo in counts}
    generalised: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    for combo, count in counts.items():
        for index, name in enumerate(names):
            before, after = combo[index], published[combo][index]
            if after == before:
                continue
            if after == SUPPRESSED:
                suppressed[name] += count
            else:
                generalised[name] += count
    final: Counter[Combo] = Counter()
    for combo, count in counts.items():
        final[published[combo]] += count
    return Anonymisation(
        k=k,
        quasi_identifiers=names,
        published=published,
        generalised={name: generalised[name] for name in names},
        suppressed={name: suppressed[name] for name in names},
        records=total,
        smallest_class=min(final.values()) if final else None,
    )
