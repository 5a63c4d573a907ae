"""Crisis-phrase detection (`messaging.risk.detection`): normalisation, phrases, negation,
exclusions and what a screening reports. Each test states its own small vocabulary through
`compile_lexicon`; the shipped lexicons are used only where they are the subject."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging.risk.detection import (
    NEGATION_REACH,
    NO_RISK,
    Lexicon,
    Screening,
    compile_lexicon,
    normalise,
    screen,
)
from messaging.risk.lexicon import shipped_lexicon

PhraseSpec = str | tuple[str, str, str]


def lexicon(
    *,
    phrases: Sequence[PhraseSpec] = (),
    patterns: Sequence[PhraseSpec] = (),
    exclusions: Iterable[str] = (),
    spellings: dict[str, str] | None = None,
    negations: Iterable[str] = (),
    fillers: Iterable[str] = (),
    language: str = "en",
) -> Lexicon:
    """A lexicon whose phrases get ids 1, 2, ... and patterns 101, 102, ...; a bare string is
    a high-severity suicide entry, a tuple is (text, category, severity)."""

    def rows(specs: Sequence[PhraseSpec], first: int) -> list[tuple[int, str, str, str]]:
        out = []
        for offset, spec in enumerate(specs):
            text, category, severity = (spec, "suicide", "high") if isinstance(spec, str) else spec
            out.append((first + offset, text, category, severity))
        return out

    return compile_lexicon(
        language=language,
        phrases=rows(phrases, 1),
        patterns=rows(patterns, 101),
        exclusions=[(201 + i, text) for i, text in enumerate(exclusions)],
        spellings=spellings or {},
        negations=negations,
        fillers=fillers,
    )


def is_risk(text: str, *lexicons: Lexicon) -> bool:
    return screen(text, lexicons).is_risk


# Negation cues and fillers used by the negation tests (a small English set).
NEGATIONS = ("not", "never", "dont")
FILLERS = ("going", "to", "i", "am", "im", "would", "really", "just", "want")


def negating(*phrases: PhraseSpec, fillers: Iterable[str] = FILLERS) -> Lexicon:
    return lexicon(phrases=phrases, negations=NEGATIONS, fillers=fillers)


@functools.cache
def shipped(language: str) -> Lexicon:
    return shipped_lexicon(language)


# Normalisation


def test_case_is_ignored() -> None:
    assert is_risk("I WANT TO Die", lexicon(phrases=["want to die"]))


@pytest.mark.parametrize(("phrase", "message"), [("mourir", "moürir"), ("tué", "tue")])
def test_accents_are_ignored_in_messages_and_lexicon(phrase: str, message: str) -> None:
    assert is_risk(message, lexicon(phrases=[phrase]))


def test_accented_message_matches_unaccented_phrase() -> None:
    assert is_risk("ça me tué", lexicon(phrases=["tue"]))


def _bold(text: str) -> str:
    """Mathematical bold capitals, as styled-text keyboards type them."""
    return "".join(chr(0x1D400 + ord(c) - ord("A")) if c.isalpha() else c for c in text.upper())


def test_styled_capitals_are_folded() -> None:
    assert is_risk(_bold("kill myself"), lexicon(phrases=["kill myself"]))


def test_fullwidth_letters_are_folded() -> None:
    assert is_risk("\uff4b\uff49\uff4c\uff4c myself", lexicon(phrases=["kill myself"]))


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u2018", "\u02bc", ""])
def test_apostrophes_are_dropped(apostrophe: str) -> None:
    assert is_risk(f"i don{apostrophe}t want to live", lexicon(phrases=["dont want to live"]))


def test_a_phrase_written_with_an_apostrophe_matches_without() -> None:
    assert is_risk("i dont want to live", lexicon(phrases=["don't want to live"]))


def test_punctuation_within_a_clause_is_a_space() -> None:
    assert is_risk('i want to "die" (really)', lexicon(phrases=["want to die"]))


@pytest.mark.parametrize("separator", [". ", "! ", "? ", "; ", ": ", ", ", "\n", "\u2026", "..."])
def test_a_phrase_never_spans_a_clause_break(separator: str) -> None:
    assert not is_risk(f"i want to{separator}die", lexicon(phrases=["want to die"]))


def test_a_gap_never_spans_a_clause_break() -> None:
    assert not is_risk("jump off. the bridge", lexicon(phrases=["jump off * bridge"]))


@pytest.mark.parametrize("message", ["i want to diiiie", "im gonna killlll myself"])
def test_repeated_letters_in_the_message_match(message: str) -> None:
    assert is_risk(message, lexicon(phrases=["want to die", "kill myself"]))


def test_a_double_letter_matches_a_longer_run() -> None:
    assert is_risk("going to offfff myself", lexicon(phrases=["off myself"]))


def test_a_double_letter_never_matches_a_single_one() -> None:
    assert not is_risk("so proud of myself", lexicon(phrases=["off myself"]))


def test_a_phrase_matches_whole_words_only() -> None:
    assert not is_risk("the skill myselfie", lexicon(phrases=["kill myself"]))


def test_a_slang_spelling_stands_for_its_meaning() -> None:
    vocabulary = lexicon(phrases=["kill myself"], spellings={"kms": "kill myself"})
    assert is_risk("honestly gonna kms", vocabulary)


def test_a_misspelling_stands_for_the_word() -> None:
    vocabulary = lexicon(phrases=["suicide"], spellings={"sucide": "suicide"})
    assert is_risk("thinking about sucide", vocabulary)


def test_spellings_apply_to_the_lexicon_phrases_too() -> None:
    vocabulary = lexicon(phrases=["wanna die"], spellings={"wanna": "want to"})
    assert is_risk("i want to die", vocabulary)


@pytest.mark.parametrize(
    "message",
    [
        "je veux m'enlever la vie",
        "je veux m\u2019enlever la vie",
        "je veux m enlever la vie",
        "je veux menlever la vie",
    ],
)
def test_french_elision_matches_with_or_without_apostrophe(message: str) -> None:
    assert is_risk(message, lexicon(phrases=["m enlever la vie"], language="fr"))


@pytest.mark.parametrize(
    "message",
    ["jump off bridge", "jump off the bridge", "jump off the old bridge", "jump off a b c bridge"],
)
def test_a_gap_takes_up_to_three_words(message: str) -> None:
    assert is_risk(message, lexicon(phrases=["jump off * bridge"]))


def test_a_gap_takes_no_more_than_three_words() -> None:
    assert not is_risk("jump off a b c d bridge", lexicon(phrases=["jump off * bridge"]))


# Negation


def test_a_negation_before_the_match_cancels_it() -> None:
    assert not is_risk("I'm not going to kill myself", negating("kill myself"))


def test_never_cancels_the_match_after_it() -> None:
    assert not is_risk("I would never hurt myself", negating("hurt myself"))


def test_a_negation_with_repeated_letters_still_cancels() -> None:
    assert not is_risk("im nooot going to kill myself", negating("kill myself"))


def test_a_negation_in_another_clause_does_not_cancel() -> None:
    assert is_risk("I'm not ok. I want to die", negating("want to die"))


def test_a_word_that_is_not_a_filler_breaks_the_negation() -> None:
    assert is_risk("not ok i want to die", negating("want to die"))


def test_a_conjunction_breaks_the_negation() -> None:
    assert is_risk("not sure but I want to die", negating("want to die"))


def test_a_conjunction_breaks_the_negation_even_when_listed_as_a_filler() -> None:
    vocabulary = negating("want to die", fillers=(*FILLERS, "sure", "but"))
    assert is_risk("not sure but I want to die", vocabulary)


def test_a_negation_reaches_across_fillers_up_to_its_reach() -> None:
    fillers = [f"fill{chr(ord('a') + i)}" for i in range(NEGATION_REACH)]
    vocabulary = negating("kill myself", fillers=fillers)
    assert not is_risk(f"not {' '.join(fillers)} kill myself", vocabulary)


def test_a_negation_beyond_its_reach_does_not_cancel() -> None:
    fillers = [f"fill{chr(ord('a') + i)}" for i in range(NEGATION_REACH + 1)]
    vocabulary = negating("kill myself", fillers=fillers)
    assert is_risk(f"not {' '.join(fillers)} kill myself", vocabulary)


def test_a_negation_after_the_match_does_not_cancel() -> None:
    assert is_risk("i want to die not joking", negating("want to die"))


def test_a_gap_matches_any_word() -> None:
    vocabulary = lexicon(phrases=["veux * mourir"], negations=["pas"], language="fr")
    assert is_risk("je veux vraiment mourir", vocabulary)


def test_a_negation_inside_a_gap_cancels() -> None:
    vocabulary = lexicon(phrases=["veux * mourir"], negations=["pas"], language="fr")
    assert not is_risk("je veux pas mourir", vocabulary)


def test_a_negation_the_phrase_spells_itself_does_not_cancel() -> None:
    assert is_risk("i dont want to live", negating("dont want to live"))


def test_a_negation_a_pattern_spells_itself_does_not_cancel() -> None:
    vocabulary = lexicon(patterns=[r"\bnever wake up\b"], negations=NEGATIONS)
    assert is_risk("i hope i never wake up", vocabulary)


def test_a_negation_before_a_pattern_cancels_it() -> None:
    vocabulary = lexicon(patterns=[r"\bkill myself\b"], negations=NEGATIONS, fillers=FILLERS)
    assert not is_risk("im not going to kill myself", vocabulary)


# Exclusions


def test_an_exclusion_cancels_the_match_it_overlaps() -> None:
    vocabulary = lexicon(phrases=["dying"], exclusions=["dying to"])
    assert not is_risk("I'm dying to see it", vocabulary)


def test_a_french_exclusion_cancels_hyperbole() -> None:
    vocabulary = lexicon(phrases=["me tue"], exclusions=["ce trafic me tue"], language="fr")
    assert not is_risk("Ce trafic me tue", vocabulary)


def test_an_exclusion_cancels_a_pattern_match_it_overlaps() -> None:
    vocabulary = lexicon(patterns=[r"\bkill\w*"], exclusions=["killing time"])
    assert not is_risk("just killing time", vocabulary)


def test_an_exclusion_leaves_a_separate_match_standing() -> None:
    vocabulary = lexicon(phrases=["dying", "want to die"], exclusions=["dying to"])
    screening = screen("dying to see it. i want to die", [vocabulary])
    assert screening.entry_ids == [2]


# Screening


def test_a_message_without_a_match_is_no_risk() -> None:
    screening = screen("see you on tuesday", [lexicon(phrases=["want to die"])])
    assert screening == NO_RISK
    assert not screening.is_risk


def test_screening_lists_each_category_matched_once() -> None:
    vocabulary = lexicon(
        phrases=[
            ("want to die", "suicide", "high"),
            ("cut myself", "self_harm", "high"),
            ("end it", "suicide", "medium"),
        ]
    )
    screening = screen("i want to die and end it. i cut myself", [vocabulary])
    assert screening.categories == ["self_harm", "suicide"]


def test_screening_severity_is_the_highest_matched() -> None:
    vocabulary = lexicon(
        phrases=[("cant go on", "suicide", "medium"), ("want to die", "suicide", "high")]
    )
    assert screen("cant go on, want to die", [vocabulary]).severity == "high"


def test_screening_severity_is_medium_when_only_medium_matched() -> None:
    vocabulary = lexicon(
        phrases=[("cant go on", "suicide", "medium"), ("want to die", "suicide", "high")]
    )
    assert screen("i cant go on", [vocabulary]).severity == "medium"


def test_screening_lists_the_matched_entry_ids_once_each() -> None:
    vocabulary = lexicon(phrases=["want to die", "kill myself", "hurt myself"])
    screening = screen("kill myself. want to die. want to die", [vocabulary])
    assert screening.entry_ids == [1, 2]


def test_entries_from_a_file_have_no_id() -> None:
    vocabulary = compile_lexicon(
        language="en",
        phrases=[(None, "want to die", "suicide", "high")],
        patterns=[],
        exclusions=[],
        spellings={},
        negations=[],
        fillers=[],
    )
    screening = screen("i want to die", [vocabulary])
    assert screening.is_risk
    assert screening.entry_ids == []


def test_every_lexicon_given_is_screened() -> None:
    english = lexicon(phrases=["want to die"])
    french = lexicon(phrases=["veux mourir"], language="fr")
    assert screen("je veux mourir", [english, french]).is_risk


def test_a_lexicon_without_signals_finds_nothing() -> None:
    assert not is_risk("want to die", lexicon(exclusions=["dying to"], negations=NEGATIONS))


def test_a_phrase_without_words_matches_nothing() -> None:
    vocabulary = lexicon(phrases=["...", "*", "want to die"])
    assert not is_risk("", vocabulary)
    assert not is_risk("\U0001f44d", vocabulary)


def test_patterns_that_cannot_be_joined_are_each_matched() -> None:
    vocabulary = lexicon(patterns=["(?P<w>die)", "(?P<w>kill)", "(?i)cut"])
    assert is_risk("want to die", vocabulary)
    assert is_risk("cut", vocabulary)


# The shipped lexicons: plain risky messages caught, clear hard negatives let through.

SHIPPED_RISK = {
    "en": [
        "i want to die",
        "I'm going to kill myself tonight",
        "I cut myself again last night",
        "I took all my pills",
        "he said he would kill me",
        "I want to hurt someone",
        "everyone would be better off without me",
    ],
    "fr": [
        "je veux mourir",
        "j'ai envie de me tuer",
        "je veux m'enlever la vie",
        "il m'a frappée",
        "je me suis coupée hier soir",
        "j'ai pris toutes mes pilules",
    ],
}
SHIPPED_ORDINARY = {
    "en": [
        "this traffic is killing me",
        "I'm dying to see that movie",
        "I'm not going to hurt myself, I promise",
        "I would never kill myself",
        "I hurt my knee at the gym",
        "see you at the appointment tomorrow",
        "so proud of myself today",
    ],
    "fr": [
        "ce trafic me tue",
        "je suis mort de rire",
        "je meurs de faim",
        "je veux pas mourir",
        "on se voit demain",
    ],
}


def _cases(table: dict[str, list[str]], kind: str) -> list[object]:
    # Ids by position, so that no message text is printed in test names.
    return [
        pytest.param(language, text, id=f"{language}-{kind}-{number}")
        for language, texts in table.items()
        for number, text in enumerate(texts, start=1)
    ]


@pytest.mark.parametrize(("language", "text"), _cases(SHIPPED_RISK, "risk"))
def test_shipped_lexicon_catches_a_plain_risky_message(language: str, text: str) -> None:
    assert is_risk(text, shipped(language))


@pytest.mark.parametrize(("language", "text"), _cases(SHIPPED_ORDINARY, "ordinary"))
def test_shipped_lexicon_lets_a_hard_negative_through(language: str, text: str) -> None:
    assert not is_risk(text, shipped(language))


# Properties


@given(st.text())
def test_screen_never_raises(text: str) -> None:
    screening = screen(text, [shipped("en"), shipped("fr"), negating("want to die")])
    assert isinstance(screening, Screening)


_CLAUSE_CHARACTERS = ".!?;:,\n\r\u2026\u3002\uff01\uff1f"


@given(st.text(alphabet=st.characters(blacklist_characters=_CLAUSE_CHARACTERS)))
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
