"""count_segments: the encoding a carrier uses for a text and how many segments it bills.

GSM-7: 160 septets in one segment, 153 per part of a longer text; an extension character
(an escape plus a character) costs two septets and never straddles two parts. UCS-2 (as soon
as one character is outside GSM-7): 70 UTF-16 units in one segment, 67 per part; a character
outside the BMP is a surrogate pair (two units) that never straddles two parts.

Expected values are worked out by hand in each test, not copied from the code.
"""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.sms.segments import SegmentCount, count_segments

# GSM 03.38, the default alphabet and its extension table, written out here independently of
# the codec the module uses.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "€[]{}\\^~|\f"
NOT_GSM = "çâêîôûëïÿœáíóúÁÍÓÚ`ÀÈ\xa0ж\u0391"  # in neither table (U+0391: GREEK CAPITAL ALPHA)

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16


def test_the_alphabets_written_here_have_the_sizes_of_the_standard() -> None:
    # The default alphabet has 128 positions, one of which (0x1B) is the escape: 127 characters.
    # The extension table used in practice has these 10 characters.
    assert len(GSM_BASIC) == 127
    assert len(set(GSM_BASIC)) == 127
    assert len(GSM_EXTENSION) == 10


# --- GSM-7: encoding and septets ----------------------------------------------------------


def test_plain_ascii_text_is_gsm7_with_one_septet_per_character() -> None:
    assert count_segments("See you at 3pm.") == SegmentCount("gsm7", 1, 15)


def test_an_empty_text_is_one_gsm7_segment_of_no_septets() -> None:
    assert count_segments("") == SegmentCount("gsm7", 1, 0)


@pytest.mark.parametrize("char", list(GSM_BASIC))
def test_every_character_of_the_default_alphabet_is_one_gsm7_septet(char: str) -> None:
    assert count_segments(char) == SegmentCount("gsm7", 1, 1)


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_every_extension_character_is_two_gsm7_septets(char: str) -> None:
    assert count_segments(char) == SegmentCount("gsm7", 1, 2)


def test_every_printable_ascii_character_but_the_backtick_is_gsm7() -> None:
    # The 95 printable ASCII characters: 86 are in the default alphabet, 8 ([]{}\\^~|) are
    # extension characters, and ` is in neither table.
    printable = [chr(c) for c in range(0x20, 0x7F)]
    widths = {ch: count_segments(ch) for ch in printable}
    assert [ch for ch, n in widths.items() if n.encoding == "ucs2"] == ["`"]
    assert sorted(ch for ch, n in widths.items() if n.units == 2 and n.encoding == "gsm7") == (
        sorted("[]{}\\^~|")
    )


def test_e_acute_is_gsm7() -> None:
    assert count_segments("Café") == SegmentCount("gsm7", 1, 4)


def test_lower_case_c_cedilla_is_not_gsm7_and_makes_the_text_ucs2() -> None:
    # GSM 03.38 has only the capital Ç (0x09); "garçon" is 6 UTF-16 units.
    assert count_segments("garçon") == SegmentCount("ucs2", 1, 6)


def test_capital_c_cedilla_is_gsm7() -> None:
    assert count_segments("GARÇON") == SegmentCount("gsm7", 1, 6)


def test_a_decomposed_e_acute_is_ucs2() -> None:
    # "e" + U+0301 COMBINING ACUTE ACCENT: the combining mark is in no GSM table; 2 units.
    assert count_segments("e\u0301") == SegmentCount("ucs2", 1, 2)


@pytest.mark.parametrize("char", list(NOT_GSM))
def test_a_character_outside_gsm7_makes_the_text_ucs2(char: str) -> None:
    # "ok " (3) + the character (1 BMP unit) = 4 UTF-16 units.
    assert count_segments("ok " + char) == SegmentCount("ucs2", 1, 4)


def test_extension_characters_in_a_ucs2_text_are_one_unit_each() -> None:
    # In UCS-2 there is no escape: "€[ç]" is 4 UTF-16 units.
    assert count_segments("€[ç]") == SegmentCount("ucs2", 1, 4)


# --- GSM-7: segment boundaries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [
        (1, 1),
        (159, 1),
        (160, 1),  # the single-segment limit
        (161, 2),  # 153 + 8
        (305, 2),
        (306, 2),  # 153 * 2
        (307, 3),  # 153 * 2 + 1
        (459, 3),  # 153 * 3
        (460, 4),  # 153 * 3 + 1
        (612, 4),  # 153 * 4
        (613, 5),
    ],
)
def test_gsm7_segments_at_the_boundaries(length: int, segments: int) -> None:
    assert count_segments("a" * length) == SegmentCount("gsm7", segments, length)


def test_a_160_character_gsm_text_is_one_segment() -> None:
    assert count_segments("x" * 160).segments == 1


def test_a_161_character_gsm_text_is_two_segments() -> None:
    assert count_segments("x" * 161).segments == 2


def test_eighty_extension_characters_fill_one_segment() -> None:
    # 80 * 2 = 160 septets: exactly the single-segment limit.
    assert count_segments("€" * 80) == SegmentCount("gsm7", 1, 160)


def test_an_extension_character_can_push_a_text_past_the_single_segment() -> None:
    # 159 + 2 = 161 septets from 160 characters: two segments (153 a, then 6 a + €).
    assert count_segments("a" * 159 + "€") == SegmentCount("gsm7", 2, 161)


def test_an_extension_character_is_never_split_across_the_153_boundary() -> None:
    # 152 + 2 + 152 = 306 septets = 153 * 2, but the escape would be septet 153 of part 1 and
    # its character septet 1 of part 2. So part 1 holds 152, part 2 holds € + 151 a (153),
    # and the last "a" needs a third part.
    assert count_segments("a" * 152 + "€" + "a" * 152) == SegmentCount("gsm7", 3, 306)


def test_an_extension_character_that_ends_a_part_exactly_fits() -> None:
    # 151 + 2 = 153: the € ends part 1; the remaining 153 a fill part 2. Also 306 septets.
    assert count_segments("a" * 151 + "€" + "a" * 153) == SegmentCount("gsm7", 2, 306)


def test_parts_of_extension_characters_only_hold_152_septets() -> None:
    # 81 € = 162 septets > 160. A part holds 76 € (152 septets: a 77th would need 154), so
    # 81 € are 76 + 5: two parts.
    assert count_segments("€" * 81) == SegmentCount("gsm7", 2, 162)
    # 153 € = 306 septets = 153 * 2, yet a part holds only 76 €: ceil(153 / 76) = 3 parts.
    assert count_segments("€" * 153) == SegmentCount("gsm7", 3, 306)


def test_a_1600_character_gsm_text_is_eleven_segments() -> None:
    # ceil(1600 / 153) = ceil(10.46) = 11.
    assert count_segments("a" * 1600) == SegmentCount("gsm7", 11, 1600)


def test_a_1600_character_gsm_text_of_extension_characters_is_22_segments() -> None:
    # 3200 septets, 76 extension characters per part: ceil(1600 / 76) = ceil(21.05) = 22.
    assert count_segments("{" * 1600) == SegmentCount("gsm7", 22, 3200)


# --- UCS-2: units and segment boundaries --------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [
        (1, 1),
        (69, 1),
        (70, 1),  # the single-segment limit
        (71, 2),  # 67 + 4
        (133, 2),
        (134, 2),  # 67 * 2
        (135, 3),  # 67 * 2 + 1
        (201, 3),  # 67 * 3
        (202, 4),  # 67 * 3 + 1
    ],
)
def test_ucs2_segments_at_the_boundaries(length: int, segments: int) -> None:
    assert count_segments("ç" * length) == SegmentCount("ucs2", segments, length)


def test_one_non_gsm_character_makes_a_whole_long_text_ucs2() -> None:
    # 159 a + ç = 160 UTF-16 units (it would have been one GSM-7 segment without the ç):
    # 67 + 67 + 26 = three UCS-2 parts.
    assert count_segments("a" * 159 + "ç") == SegmentCount("ucs2", 3, 160)


def test_an_emoji_is_two_utf16_units() -> None:
    assert count_segments(EMOJI) == SegmentCount("ucs2", 1, 2)


def test_35_emoji_fill_one_segment() -> None:
    # 35 * 2 = 70 units.
    assert count_segments(EMOJI * 35) == SegmentCount("ucs2", 1, 70)


def test_36_emoji_are_two_segments() -> None:
    # 72 units > 70; a part holds 33 emoji (66 units: a 34th would need 68), so 33 + 3.
    assert count_segments(EMOJI * 36) == SegmentCount("ucs2", 2, 72)


def test_an_emoji_is_never_split_across_the_67_boundary() -> None:
    # 66 + 2 + 66 = 134 units = 67 * 2, but the pair would straddle units 67 and 68. So
    # part 1 holds 66, part 2 the emoji + 65 ç (67), and the last ç needs a third part.
    assert count_segments("ç" * 66 + EMOJI + "ç" * 66) == SegmentCount("ucs2", 3, 134)


def test_an_emoji_that_ends_a_part_exactly_fits() -> None:
    # 65 + 2 = 67: the emoji ends part 1; 67 ç fill part 2. Also 134 units.
    assert count_segments("ç" * 65 + EMOJI + "ç" * 67) == SegmentCount("ucs2", 2, 134)


def test_an_emoji_in_a_gsm_text_makes_it_ucs2() -> None:
    # "Thanks " (7) + emoji (2) = 9 units.
    assert count_segments("Thanks " + EMOJI) == SegmentCount("ucs2", 1, 9)


def test_a_1600_character_ucs2_text_is_24_segments() -> None:
    # ceil(1600 / 67) = ceil(23.88) = 24.
    assert count_segments("ç" * 1600) == SegmentCount("ucs2", 24, 1600)


def test_a_text_of_1600_emoji_is_49_segments() -> None:
    # 3200 units; 33 emoji per part: ceil(1600 / 33) = ceil(48.48) = 49.
    assert count_segments(EMOJI * 1600) == SegmentCount("ucs2", 49, 3200)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("مرحبا، كيف حالك اليوم؟", 22),  # Arabic: 5 + 1 + 1 + 3 + 1 + 4 + 1 + 5 + 1
        ("שלום, מה שלומך?", 15),  # Hebrew: 4 + 1 + 1 + 2 + 1 + 5 + 1
        ("\u200fשלום\u200f", 6),  # noqa: RUF001 (RIGHT-TO-LEFT MARKs around it: 1 + 4 + 1)
        ("你好，今天怎么样？", 9),  # noqa: RUF001 (CJK: nine BMP characters)
        ("こんにちは", 5),  # Japanese kana
        ("안녕하세요", 5),  # Hangul syllables
    ],
)
def test_right_to_left_and_cjk_texts_are_ucs2_with_one_unit_per_bmp_character(
    text: str, units: int
) -> None:
    assert count_segments(text) == SegmentCount("ucs2", 1, units)


def test_a_71_letter_arabic_text_is_two_segments() -> None:
    assert count_segments("ب" * 71) == SegmentCount("ucs2", 2, 71)


def test_a_long_hebrew_text_at_the_part_boundary() -> None:
    # 134 letters = 67 * 2: two parts; 135: three.
    assert count_segments("א" * 134).segments == 2
    assert count_segments("א" * 135).segments == 3


@pytest.mark.parametrize(
    "char",
    [
        "\U00010000",  # plane 1, its first code point (LINEAR B SYLLABLE B008 A)
        "\U0001f600",  # plane 1, an emoji
        "\U00020000",  # plane 2, CJK Extension B
        "\U00030000",  # plane 3, CJK Extension G
        "\U000e0001",  # plane 14, LANGUAGE TAG
        "\U000f0000",  # plane 15, private use
        "\U0010ffff",  # plane 16, the last code point
    ],
)
def test_a_character_outside_the_bmp_is_two_units(char: str) -> None:
    assert count_segments(char) == SegmentCount("ucs2", 1, 2)
    # 36 of them: 72 units > 70; 33 per part (66 units): two parts.
    assert count_segments(char * 36) == SegmentCount("ucs2", 2, 72)


@pytest.mark.parametrize("char", ["\u0100", "\u4e00", "\ufffd", "\uffff"])
def test_a_bmp_character_outside_gsm7_is_one_unit(char: str) -> None:
    # Up to U+FFFF a character is one UTF-16 unit: 70 of them fit in one segment, 71 do not.
    assert count_segments(char * 70) == SegmentCount("ucs2", 1, 70)
    assert count_segments(char * 71) == SegmentCount("ucs2", 2, 71)


# --- Properties ---------------------------------------------------------------------------

# The escape control character U+001B itself is left out: it is not a character of either
# table (it introduces the extension table), and no phone or peer supporter types it.
any_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM_BASIC + GSM_EXTENSION),
        st.characters(codec="utf-8", exclude_characters="\x1b"),
    ),
    max_size=400,
)
gsm_text = st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXTENSION), max_size=400)


@given(text=any_text, char=st.one_of(st.sampled_from(GSM_BASIC + GSM_EXTENSION), st.characters()))
def test_segments_never_decrease_when_a_character_is_appended(text: str, char: str) -> None:
    assert count_segments(text + char).segments >= count_segments(text).segments


@given(text=gsm_text)
def test_gsm_septets_are_the_characters_plus_one_per_extension_character(text: str) -> None:
    counted = count_segments(text)
    assert counted.encoding == "gsm7"
    assert counted.units == len(text) + sum(ch in GSM_EXTENSION for ch in text)


@given(text=any_text)
def test_ucs2_units_are_the_utf16_code_units(text: str) -> None:
    counted = count_segments(text)
    if counted.encoding == "ucs2":
        assert counted.units == len(text.encode("utf-16-le")) // 2


@given(text=any_text)
def test_a_text_is_ucs2_exactly_when_a_character_is_outside_both_gsm_tables(text: str) -> None:
    outside = any(ch not in GSM_BASIC + GSM_EXTENSION for ch in text)
    assert count_segments(text).encoding == ("ucs2" if outside else "gsm7")


@given(text=any_text)
def test_segments_lie_between_the_naive_count_and_one_unit_lost_per_part(text: str) -> None:
    counted = count_segments(text)
    single, part = (160, 153) if counted.encoding == "gsm7" else (70, 67)
    if counted.units <= single:
        assert counted.segments == 1
    else:
        # Every part holds `part` units, or one less when a pair would straddle its end.
        assert math.ceil(counted.units / part) <= counted.segments
        assert counted.segments <= math.ceil(counted.units / (part - 1))


def test_letters_and_digits_are_all_gsm7() -> None:
    text = string.ascii_letters + string.digits
    assert count_segments(text) == SegmentCount("gsm7", 1, 62)
