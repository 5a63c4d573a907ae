"""The crisis lexicons: shipped data files (`lexicons/<language>.yaml`), loaded into the
database where admins edit them, and compiled per language for `detection.screen`.

Compiled lexicons are cached per process for LEXICON_CACHE_SECONDS: an admin's edit takes
effect at once in the process that saved it and within that time everywhere else.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Count, Max

from messaging.risk.detection import Lexicon, compile_lexicon
from messaging.risk.models import LexiconEntry, LexiconKind, LexiconSource, RiskCategory, Severity

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "lexicons"
LEXICON_CACHE_SECONDS = 30.0


KNOWN_KEYS = frozenset(
    {"language", "negations", "negation_fillers", "spellings", "phrases", "patterns", "exclusions"}
)


class LexiconFileError(ValueError):
    """A lexicon file that does not follow the documented shape (en.yaml's header)."""


@dataclass(frozen=True)
class FileEntry:
    kind: str
    text: str
    replacement: str = ""
    category: str = ""
    severity: str = Severity.HIGH


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise LexiconFileError(f"{where} must be a list of non-empty strings")
    return [v.strip() for v in value]


def parse_lexicon(document: Any, *, name: str = "lexicon") -> tuple[str, list[FileEntry]]:
    """The language and entries of a lexicon document; LexiconFileError says what is wrong."""
    if not isinstance(document, dict):
        raise LexiconFileError(f"{name}: the file must be a mapping")
    unknown = set(document) - KNOWN_KEYS
    if unknown:
        # A typo ("negation:") would silently leave a language without its negations.
        raise LexiconFileError(f"{name}: unknown keys {sorted(map(str, unknown))}")
    language = document.get("language")
    if not isinstance(language, str) or not language.strip():
        raise LexiconFileError(f"{name}: `language` is required")
    entries: list[FileEntry] = []
    for word in _strings(document.get("negations", []), f"{name}: negations"):
        entries.append(FileEntry(LexiconKind.NEGATION, word))
    for word in _strings(document.get("negation_fillers", []), f"{name}: negation_fillers"):
        entries.append(FileEntry(LexiconKind.FILLER, word))
    spellings = document.get("spellings", {})
    if not isinstance(spellings, dict):
        raise LexiconFileError(f"{name}: spellings must map a word to its meaning")
    for variant, meaning in spellings.items():
        # YAML reads a bare `~`, yes/no or on/off as None or a boolean, never as a word.
        if (
            not isinstance(variant, str | int)
            or isinstance(variant, bool)
            or not isinstance(meaning, str)
            or not str(variant).strip()
            or not meaning.strip()
        ):
            raise LexiconFileError(f"{name}: spellings need a word and a meaning ({variant!r})")
        entries.append(FileEntry(LexiconKind.SPELLING, str(variant).strip(), str(meaning).strip()))
    phrases = document.get("phrases", {})
    if not isinstance(phrases, dict):
        raise LexiconFileError(f"{name}: phrases are grouped by category, then severity")
    for category, by_severity in phrases.items():
        if category not in RiskCategory.values or not isinstance(by_severity, dict):
            raise LexiconFileError(f"{name}: unknown phrase category {category!r}")
        for severity, texts in by_severity.items():
            if severity not in Severity.values:
                raise LexiconFileError(f"{name}: unknown severity {severity!r}")
            for text in _strings(texts, f"{name}: phrases.{category}.{severity}"):
                entries.append(FileEntry(LexiconKind.PHRASE, text, "", category, severity))
    for index, item in enumerate(document.get("patterns", []) or []):
        if not isinstance(item, dict) or not isinstance(item.get("pattern"), str):
            raise LexiconFileError(f"{name}: patterns[{index}] needs a `pattern`")
        category, severity = item.get("category", ""), item.get("severity", Severity.HIGH)
        if category not in RiskCategory.values or severity not in Severity.values:
            raise LexiconFileError(f"{name}: patterns[{index}] has an unknown category/severity")
        _check_pattern(item["pattern"], f"{name}: patterns[{index}]")
        entries.append(FileEntry(LexiconKind.PATTERN, item["pattern"], "", category, severity))
    for text in _strings(document.get("exclusions", []), f"{name}: exclusions"):
        entries.append(FileEntry(LexiconKind.EXCLUSION, text))
    return language.strip(), entries


def _check_pattern(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise LexiconFileError(f"{where} is not a valid regular expression: {exc}") from None


def read_lexicon_file(path: Path) -> tuple[str, list[FileEntry]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise LexiconFileError(f"{path.name}: not valid YAML{where}") from None
    except OSError as exc:
        raise LexiconFileError(f"{path.name}: {type(exc).__name__}") from None
    return parse_lexicon(document, name=path.name)


def shipped_files() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class ImportCounts:
    language: str
    created: int
    updated: int
    unchanged: int


@transaction.atomic
def import_lexicon(language: str, entries: Sequence[FileEntry]) -> ImportCounts:
    """Load a file's entries by their key (language, kind, text). An entry an admin switched
    off stays off; admins' own entries are never touched; entries gone from the file stay
    (switch them off in the admin) so that a file edit never silently drops a phrase."""
    existing = {(row.kind, row.text): row for row in LexiconEntry.objects.filter(language=language)}
    created = updated = unchanged = 0
    for entry in entries:
        row = existing.get((entry.kind, entry.text))
        values = {
            "replacement": entry.replacement,
            "category": entry.category,
            "severity": entry.severity,
        }
        if row is None:
            existing[(entry.kind, entry.text)] = LexiconEntry.objects.create(
                language=language,
                kind=entry.kind,
                text=entry.text,
                source=LexiconSource.FILE,
                **values,
            )
            created += 1
        elif row.source == LexiconSource.FILE and any(
            getattr(row, key) != value for key, value in values.items()
        ):
            for key, value in values.items():
                setattr(row, key, value)
            row.save(update_fields=[*values, "updated_at"])
            updated += 1
        else:
            unchanged += 1
    transaction.on_commit(clear_cache)
    return ImportCounts(language, created, updated, unchanged)


def import_shipped_lexicons() -> list[ImportCounts]:
    return [import_lexicon(*read_lexicon_file(path)) for path in shipped_files()]


def compile_entries(language: str, entries: Iterable[FileEntry | LexiconEntry]) -> Lexicon:
    phrases, patterns, exclusions, negations, fillers = [], [], [], [], []
    spellings: dict[str, str] = {}
    for entry in entries:
        entry_id = entry.pk if isinstance(entry, LexiconEntry) else None
        if entry.kind == LexiconKind.PHRASE:
            phrases.append((entry_id, entry.text, entry.category, entry.severity))
        elif entry.kind == LexiconKind.PATTERN:
            try:
                re.compile(entry.text)
            except re.error:
                # Admin forms refuse bad patterns; one that got in anyway must not stop
                # every other entry from screening messages.
                logger.error("lexicon pattern skipped: invalid entry=%s", entry_id)
                continue
            patterns.append((entry_id, entry.text, entry.category, entry.severity))
        elif entry.kind == LexiconKind.EXCLUSION:
            exclusions.append((entry_id, entry.text))
        elif entry.kind == LexiconKind.SPELLING:
            spellings[entry.text] = entry.replacement
        elif entry.kind == LexiconKind.NEGATION:
            negations.append(entry.text)
        elif entry.kind == LexiconKind.FILLER:
            fillers.append(entry.text)
    return compile_lexicon(
        language=language,
        phrases=phrases,
        patterns=patterns,
        exclusions=exclusions,
        spellings=spellings,
        negations=negations,
        fillers=fillers,
    )


def shipped_lexicon(language: str) -> Lexicon:
    for path in shipped_files():
        file_language, entries = read_lexicon_file(path)
        if file_language == language:
            return compile_entries(language, entries)
    raise LexiconFileError(f"no shipped lexicon for {language!r}")


@dataclass(frozen=True)
class _Cached:
    checked_at: float
    version: tuple[Any, ...]
    lexicon: Lexicon


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _version(language: str) -> tuple[Any, ...]:
    """What changes when any entry of the language is added, edited, switched or deleted."""
    found = LexiconEntry.objects.filter(language=language).aggregate(
        latest=Max("updated_at"), count=Count("pk")
    )
    return (found["latest"], found["count"])


def lexicon_for(language: str) -> Lexicon:
    """The language's active lexicon from the database, compiled. Cached per process: every
    LEXICON_CACHE_SECONDS one cheap query checks whether anything changed, and only a change
    compiles it again (hundreds of entries; too slow for the chat path to repeat)."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(language)
    if cached is not None and now - cached.checked_at < LEXICON_CACHE_SECONDS:
        return cached.lexicon
    version = _version(language)
    if cached is not None and cached.version == version:
        lexicon = cached.lexicon
    else:
        rows = LexiconEntry.objects.filter(language=language, active=True)
        lexicon = compile_entries(language, rows)
    with _cache_lock:
        _cache[language] = _Cached(now, version, lexicon)
    return lexicon


def lexicons_for(languages: Sequence[str]) -> list[Lexicon]:
    """The lexicons to screen a message with: the person's language first, then the
    programme's others, each once."""
    seen: list[str] = []
    for language in languages:
        if language and language not in seen:
            seen.append(language)
    return [lexicon_for(language) for language in seen]
