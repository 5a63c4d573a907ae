"""How many SMS segments a text costs, and in which encoding.

Whether a text is GSM-7, and how many septets each character takes (extension characters
such as `€`, `[`, `{` are an escape plus a character: two), comes from the `gsm0338` codec.
The splitting rules are written here because no maintained library applies them as carriers
do: a single GSM-7 segment holds 160 septets and each part of a longer text 153 (the rest is
the concatenation header); UCS-2 holds 70 UTF-16 units, or 67 per part; and a part never ends
between an escape and its character, or between the two halves of a surrogate pair (an emoji
is two UTF-16 units), so such a part holds one unit less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

Encoding = Literal["gsm7", "ucs2"]


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def _gsm7_widths(text: str) -> list[int] | None:
    """Septets per character, or None when the text is not GSM-7."""
    try:
        return [len(ch.encode("gsm03.38")) for ch in text]
    except UnicodeEncodeError:
        return None


def _ucs2_widths(text: str) -> list[int]:
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _parts(widths: list[int], *, single: int, part: int) -> int:
    total = sum(widths)
    if total <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            parts += 1
            used = 0
        used += width
    return parts


def count_segments(text: str) -> SegmentCount:
    """The encoding a carrier will use for `text` and how many segments it is billed as."""
    gsm = _gsm7_widths(text)
    if gsm is not None:
        return SegmentCount("gsm7", _parts(gsm, single=GSM7_SINGLE, part=GSM7_PART), sum(gsm))
    ucs2 = _ucs2_widths(text)
    return SegmentCount("ucs2", _parts(ucs2, single=UCS2_SINGLE, part=UCS2_PART), sum(ucs2))
