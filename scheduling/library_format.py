"""The message library file format (YAML), read and written the same way, so that an export
imports back unchanged. The shape (see scheduling/libraries/sample_en.yaml):

    library: slug            # required
    name: text               # required
    sample: false            # true for content not clinically approved
    messages:
      - key: general-001     # unique in the library: re-imports update by it
        track: general       # slug
        category: supportive # supportive | reminder
        language: en
        position: 1          # order within (track, category, language), from 1
        text: "..."          # 1 to 1,600 characters (one SMS segment is 160 GSM-7 characters)
        author: name
        approver: ""         # both approver and approved_on, or neither: only approved
        approved_on: null    #   messages are ever sent
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import yaml

from scheduling.models import MessageCategory

MAX_TEXT_CHARS = 1600
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
TOP_LEVEL = {"library", "name", "sample", "messages"}
FIELDS = {
    "key",
    "track",
    "category",
    "language",
    "position",
    "text",
    "author",
    "approver",
    "approved_on",
}


class LibraryFileError(ValueError):
    """What is wrong with a library file, naming the message by its index and key."""


@dataclass(frozen=True)
class MessageSpec:
    key: str
    track: str
    category: str
    language: str
    position: int
    text: str
    author: str
    approver: str
    approved_on: dt.date | None


@dataclass(frozen=True)
class LibrarySpec:
    slug: str
    name: str
    is_sample: bool
    messages: tuple[MessageSpec, ...]


def _slug(value: Any, where: str) -> str:
    if not isinstance(value, str) or not SLUG.match(value) or len(value) > 80:
        raise LibraryFileError(f"{where} must be a slug (letters, digits, - and _)")
    return value


def _text(value: Any, where: str, *, allow_empty: bool = False, limit: int = 200) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise LibraryFileError(f"{where} must be text")
    if len(value) > limit:
        raise LibraryFileError(f"{where} holds at most {limit} characters")
    return value


def _message(item: Any, index: int) -> MessageSpec:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        raise LibraryFileError(f"{where} must be a mapping")
    key = _slug(item.get("key"), f"{where}.key")
    where = f"messages[{index}] ({key})"
    if set(item) - FIELDS:
        raise LibraryFileError(f"{where}: unknown fields {sorted(map(str, set(item) - FIELDS))}")
    missing = FIELDS - {"approver", "approved_on"} - set(item)
    if missing:
        raise LibraryFileError(f"{where}: missing {sorted(missing)}")
    category = item["category"]
    if category not in MessageCategory.values:
        raise LibraryFileError(f"{where}.category is one of {MessageCategory.values}")
    position = item["position"]
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise LibraryFileError(f"{where}.position is a whole number from 1")
    approver = _text(item.get("approver") or "", f"{where}.approver", allow_empty=True)
    approved_on = item.get("approved_on")
    if approved_on is not None and not isinstance(approved_on, dt.date):
        raise LibraryFileError(f"{where}.approved_on is a date (YYYY-MM-DD) or null")
    if isinstance(approved_on, dt.datetime):
        raise LibraryFileError(f"{where}.approved_on is a date without a time")
    if bool(approver.strip()) != (approved_on is not None):
        raise LibraryFileError(f"{where}: give both approver and approved_on, or neither")
    return MessageSpec(
        key=key,
        track=_slug(item["track"], f"{where}.track"),
        category=category,
        language=_slug(item["language"], f"{where}.language"),
        position=position,
        text=_text(item["text"], f"{where}.text", limit=MAX_TEXT_CHARS),
        author=_text(item["author"], f"{where}.author"),
        approver=approver.strip(),
        approved_on=approved_on,
    )


def parse_library(document: Any) -> LibrarySpec:
    if not isinstance(document, dict):
        raise LibraryFileError("the file must be a mapping with library, name and messages")
    if set(document) - TOP_LEVEL:
        raise LibraryFileError(f"unknown keys {sorted(map(str, set(document) - TOP_LEVEL))}")
    slug = _slug(document.get("library"), "library")
    name = _text(document.get("name"), "name")
    sample = document.get("sample", False)
    if not isinstance(sample, bool):
        raise LibraryFileError("sample is true or false")
    items = document.get("messages")
    if not isinstance(items, list) or not items:
        raise LibraryFileError("messages must be a non-empty list")
    messages = tuple(_message(item, index) for index, item in enumerate(items))
    keys = [m.key for m in messages]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise LibraryFileError(f"keys used twice: {repeated}")
    slots = [(m.track, m.category, m.language, m.position) for m in messages]
    clashing = sorted({s for s in slots if slots.count(s) > 1})
    if clashing:
        track, category, language, position = clashing[0]
        raise LibraryFileError(
            f"two messages at position {position} of {track}/{category}/{language}"
        )
    return LibrarySpec(slug=slug, name=name, is_sample=sample, messages=messages)


def read_library(text: str) -> LibrarySpec:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise LibraryFileError(f"not valid YAML{line}") from None
    return parse_library(document)


def dump_library(spec: LibrarySpec) -> str:
    document = {
        "library": spec.slug,
        "name": spec.name,
        "sample": spec.is_sample,
        "messages": [
            {
                "key": m.key,
                "track": m.track,
                "category": m.category,
                "language": m.language,
                "position": m.position,
                "text": m.text,
                "author": m.author,
                "approver": m.approver,
                "approved_on": m.approved_on,
            }
            for m in spec.messages
        ],
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
