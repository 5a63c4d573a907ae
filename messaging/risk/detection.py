"""Crisis-phrase detection: a per-language lexicon matched against normalised text.

Written by hand, on purpose: no maintained library does lexicon matching with the rules a
safety team needs to read and tune (negation scope, hyperbole exclusions, texting spellings),
and a statistical classifier would need labelled clinical data we do not have. It errs
towards raising: a missed crisis costs more than a false alarm, which a human dismisses.

Normalisation, applied alike to the lexicon and to messages:
- Unicode compatibility forms folded, case folded, accents dropped (texters often skip them);
- apostrophes dropped ("don't" -> "dont"); other punctuation becomes a space, except clause
  breaks (. ! ? ; : , and new lines), which become " | " so that no phrase spans two clauses
  and a negation reaches only within its own clause;
- each word looked up in the language's spellings ("kms" -> "kill myself").
A lexicon letter written once or twice matches any longer run of it in the text ("diiie"),
so "kill" matches "killlll" but "off" never matches "of".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CLAUSE_BREAK = "|"
_CLAUSE_PUNCTUATION = re.compile(r"[.!?;:,\n\r\u2026\u3002\uff01\uff1f]+")
_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc`\u00b4]")
_NOT_WORD = re.compile(r"[^\w|]+")
_SPACES = re.compile(r"\s+")
# A `*` in a phrase: up to three words, within the clause.
_GAP = r"(?:[^\s|]+ ){0,3}"
# Words that end a negation's reach even without punctuation.
_CONJUNCTIONS = frozenset({"but", "mais", "though", "however", "pero", "cependant"})
# How many words may stand between a negation and the match it cancels.
NEGATION_REACH = 4
SEVERITY_RANK = {"medium": 1, "high": 2}


def fold(text: str) -> str:
    """Case, accents and compatibility forms folded; apostrophes dropped."""
    # Decompose before case folding too: compatibility forms such as mathematical bold
    # letters ("\U0001d40a") only become a plain capital ("K") once decomposed.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _APOSTROPHES.sub("", stripped)


def normalise(text: str, spellings: dict[str, str] | None = None) -> str:
    folded = _CLAUSE_PUNCTUATION.sub(f" {CLAUSE_BREAK} ", fold(text))
    words = _SPACES.split(_NOT_WORD.sub(" ", folded.replace("_", " ")).strip())
    if spellings:
        words = [spellings.get(word, word) for word in words]
    return " ".join(word for word in words if word)


def squeeze(word: str) -> str:
    """Every run of a letter as one letter: how negation cues and fillers are compared."""
    return re.sub(r"(.)\1+", r"\1", word)


def _word_pattern(word: str) -> str:
    parts = []
    for match in re.finditer(r"(.)\1*", word):
        letter, count = match.group(1), len(match.group(0))
        parts.append(f"{re.escape(letter)}{{{count},}}")
    return "".join(parts)


# French elision: "m'enlever" folds to "menlever", and the lexicon writes "m enlever".
_ELIDED = frozenset({"c", "d", "j", "l", "m", "n", "s", "t", "qu"})


def phrase_words(phrase: str, spellings: dict[str, str] | None = None) -> list[str]:
    """A lexicon phrase's normalised words, `*` gaps kept, trailing gaps dropped."""
    # `*` is split off first: normalising would turn it into a space like other punctuation.
    words: list[str] = []
    for index, part in enumerate(phrase.split("*")):
        if index:
            words.append("*")
        words.extend(w for w in normalise(part, spellings).split() if w != CLAUSE_BREAK)
    while words and words[-1] == "*":
        words.pop()
    return words


def phrase_pattern(phrase: str, spellings: dict[str, str] | None = None) -> str:
    """The regular expression of a lexicon phrase, over normalised text."""
    words = phrase_words(phrase, spellings)
    pieces: list[str] = []
    for index, word in enumerate(words):
        if word == "*":
            pieces.append(_GAP)
            continue
        pieces.append(_word_pattern(word))
        if index < len(words) - 1:
            pieces.append(" ?" if word in _ELIDED else " ")
    return rf"(?<![^\s|]){''.join(pieces)}(?![^\s|])"


@dataclass(frozen=True)
class Entry:
    """One compiled lexicon line. `entry_id` is the database row (None: from a file)."""

    entry_id: int | None
    kind: str  # phrase | pattern | exclusion
    source: str
    category: str
    severity: str
    regex: re.Pattern[str]
    cues_inside: frozenset[str] = frozenset()
    # Phrases and exclusions: their words, squeezed. A phrase can only match a text that has
    # them all, so most entries are ruled out by a set lookup before any regex runs.
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Lexicon:
    language: str
    signals: tuple[Entry, ...]
    exclusions: tuple[Entry, ...]
    negations: frozenset[str]
    fillers: frozenset[str]
    spellings: dict[str, str] = field(default_factory=dict)
    # Phrases and exclusions indexed by one of their words (the longest, likely the rarest);
    # patterns, which cannot be indexed, always run. One combined regex over hundreds of
    # alternatives was slower than this (docs/performance.md).
    phrases_by_word: dict[str, tuple[Entry, ...]] = field(default_factory=dict)
    exclusions_by_word: dict[str, tuple[Entry, ...]] = field(default_factory=dict)
    patterns: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Match:
    entry: Entry
    start: int
    end: int


@dataclass(frozen=True)
class Screening:
    """What a message's text revealed: nothing (`matches` empty), or the categories and the
    highest severity of what matched."""

    matches: tuple[Match, ...]

    @property
    def is_risk(self) -> bool:
        return bool(self.matches)

    @property
    def categories(self) -> list[str]:
        return sorted({m.entry.category for m in self.matches})

    @property
    def severity(self) -> str:
        return max((m.entry.severity for m in self.matches), key=SEVERITY_RANK.__getitem__)

    @property
    def entry_ids(self) -> list[int]:
        return sorted({m.entry.entry_id for m in self.matches if m.entry.entry_id is not None})


NO_RISK = Screening(())


def _has_words(phrase: str, spellings: dict[str, str]) -> bool:
    return any(word != "*" for word in phrase_words(phrase, spellings))


def compile_lexicon(
    *,
    language: str,
    phrases: Iterable[tuple[int | None, str, str, str]],
    patterns: Iterable[tuple[int | None, str, str, str]],
    exclusions: Iterable[tuple[int | None, str]],
    spellings: dict[str, str],
    negations: Iterable[str],
    fillers: Iterable[str],
) -> Lexicon:
    """Phrases and patterns are (id, text, category, severity); a bad pattern raises
    `re.error` (admins see it when they save)."""
    clean_spellings = {
        fold(key).strip(): normalise(value) for key, value in spellings.items() if key.strip()
    }
    negation_words = frozenset(squeeze(normalise(word)) for word in negations)
    signals: list[Entry] = []
    for entry_id, text, category, severity in phrases:
        if not _has_words(text, clean_spellings):
            continue  # all punctuation: its pattern would match every empty message
        words = {squeeze(w) for w in normalise(text, clean_spellings).split()}
        signals.append(
            Entry(
                entry_id,
                "phrase",
                text,
                category,
                severity,
                re.compile(phrase_pattern(text, clean_spellings)),
                frozenset(words & negation_words),
                _required_words(text, clean_spellings),
            )
        )
    for entry_id, text, category, severity in patterns:
        # Cues a pattern spells out itself ("(?:dont|never) wake up") are part of it.
        # Escapes are dropped first, so that `\bnever` spells "never", not "bnever".
        spelled = {squeeze(w) for w in re.findall(r"[a-z]+", re.sub(r"\\.", " ", text))}
        spelled &= negation_words
        signals.append(
            Entry(
                entry_id, "pattern", text, category, severity, re.compile(text), frozenset(spelled)
            )
        )
    excluded = tuple(
        Entry(
            entry_id,
            "exclusion",
            text,
            "",
            "medium",
            re.compile(phrase_pattern(text, clean_spellings)),
            required=_required_words(text, clean_spellings),
        )
        for entry_id, text in exclusions
        if _has_words(text, clean_spellings)
    )
    return Lexicon(
        language=language,
        signals=tuple(signals),
        exclusions=excluded,
        negations=negation_words,
        fillers=frozenset(squeeze(normalise(word)) for word in fillers),
        spellings=clean_spellings,
        phrases_by_word=_index([e for e in signals if e.kind == "phrase"]),
        exclusions_by_word=_index(list(excluded)),
        patterns=tuple(e for e in signals if e.kind == "pattern"),
    )


def _required_words(text: str, spellings: dict[str, str]) -> frozenset[str]:
    # An elided word ("m" of "m enlever") may be glued to the next one in the text: neither
    # is required as a word of its own.
    words = phrase_words(text, spellings)
    glued = {i for i, w in enumerate(words) if w in _ELIDED} | {
        i + 1 for i, w in enumerate(words) if w in _ELIDED
    }
    return frozenset(squeeze(w) for i, w in enumerate(words) if w != "*" and i not in glued)


def _index(entries: list[Entry]) -> dict[str, tuple[Entry, ...]]:
    index: dict[str, list[Entry]] = {}
    for entry in entries:
        # No word to look up ("m automutiler": both words may be glued): always a candidate,
        # under the key "" that no text word has.
        key = max(sorted(entry.required), key=len) if entry.required else ""
        index.setdefault(key, []).append(entry)
    return {word: tuple(found) for word, found in index.items()}


def _candidates(index: dict[str, tuple[Entry, ...]], words: set[str]) -> list[Entry]:
    found: list[Entry] = list(index.get("", ()))
    for word in words:
        for entry in index.get(word, ()):
            if entry.required <= words:
                found.append(entry)
    return found


def _negated(lexicon: Lexicon, text: str, match: Match) -> bool:
    inside = {squeeze(w) for w in text[match.start : match.end].split()}
    if (inside & lexicon.negations) - match.entry.cues_inside:
        return True  # "veux pas mourir" matched by "veux * mourir"
    before = text[: match.start].split()
    for distance, word in enumerate(reversed(before)):
        if word == CLAUSE_BREAK or word in _CONJUNCTIONS or distance > NEGATION_REACH:
            return False
        squeezed = squeeze(word)
        if squeezed in lexicon.negations:
            return True
        if squeezed not in lexicon.fillers:
            return False
    return False


def _excluded(lexicon: Lexicon, text: str, words: set[str], match: Match) -> bool:
    for exclusion in _candidates(lexicon.exclusions_by_word, words):
        for found in exclusion.regex.finditer(text):
            if found.start() < match.end and match.start < found.end():
                return True
    return False


def screen(text: str, lexicons: Sequence[Lexicon]) -> Screening:
    """Screen a message against each lexicon (the person's language first, then the
    programme's others: people switch languages mid-sentence)."""
    found: list[Match] = []
    for lexicon in lexicons:
        normalised = normalise(text, lexicon.spellings)
        words = {squeeze(word) for word in normalised.split()}
        for entry in _candidates(lexicon.phrases_by_word, words) + list(lexicon.patterns):
            for hit in entry.regex.finditer(normalised):
                match = Match(entry, hit.start(), hit.end())
                if not _negated(lexicon, normalised, match) and not _excluded(
                    lexicon, normalised, words, match
                ):
                    found.append(match)
    return Screening(tuple(found)) if found else NO_RISK
