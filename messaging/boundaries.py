"""Roles and boundaries (issue 6, item 6): does a peer supporter's message hold personal
contact details?

Sharing a phone number, an email address or a social-media handle moves a relationship off
the supervised service, so such a message is held until the peer supporter confirms it
(`messaging.services.post_message`), and confirmations are listed for supervision.

The check is a reminder for people acting in good faith, not a filter against evasion:
"five five five, oh one two three" or "jane at example dot com" pass. It reports the kinds
found, never the matched text, so that nothing personal travels further than the message.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

from programmes.models import Programme

PHONE = "phone"
EMAIL = "email"
HANDLE = "handle"
LINK = "link"
KINDS = (PHONE, EMAIL, HANDLE, LINK)

# No region's numbers are shorter than four digits (phonenumbers' metadata: Luxembourg's
# shortest possible length), so a text with fewer cannot hold a valid number; most chat
# messages skip the matcher this way.
MIN_PHONE_DIGITS = 4

# Hand-written: Django's EmailValidator and the email-validator package check a whole
# string, and no maintained library finds addresses inside text. This is the HTML Living
# Standard's "valid e-mail address" (what browsers accept in <input type=email>), widened to
# Unicode letters (internationalised addresses) and narrowed to domains with a dot and a
# letter TLD, so that "me@home" or "meet@5" do not count. The look-behind anchors a match at
# the start of a run of address characters, and the bounded local part keeps the search
# linear on long runs without an "@".
_LOCAL_CHARS = r"\w.!#$%&'*+/=?^`{|}~-"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
EMAIL_PATTERN = re.compile(
    rf"(?<![{_LOCAL_CHARS}])[{_LOCAL_CHARS}]{{1,64}}@(?:{_LABEL}\.)+[^\W\d_]{{2,63}}(?![\w-])"
)

# Social-media and messenger sites whose links lead to one person's profile or chat. Video
# and forum sites are left out on purpose: peer supporters share videos and communities as
# resources, which is part of the work.
SOCIAL_DOMAINS = (
    "instagram.com",
    "instagr.am",
    "facebook.com",
    "fb.com",
    "fb.me",
    "m.me",
    "messenger.com",
    "tiktok.com",
    "snapchat.com",
    "twitter.com",
    "x.com",
    "threads.net",
    "bsky.app",
    "linkedin.com",
    "wa.me",
    "whatsapp.com",
    "t.me",
    "telegram.me",
    "signal.me",
    "discord.gg",
    "discord.com",
)
# A domain from the list (or a subdomain: www., m., vm., chat.) followed by a path: a bare
# "instagram.com" names the site, a path names someone on it. Hand-written for the same
# reason as the email pattern: URL libraries parse a URL, they do not find one in text.
LINK_PATTERN = re.compile(
    r"(?<![\w.@-])(?:https?://)?(?:[a-z0-9-]{1,63}\.)*(?:"
    + "|".join(re.escape(domain) for domain in SOCIAL_DOMAINS)
    + r")/\S+",
    re.IGNORECASE,
)

# "@some_name" as Instagram, TikTok, X and Telegram spell handles (ASCII letters, digits,
# underscores and inner dots, up to 30). Not an email's "@" (a word character before it),
# not a path's ("tiktok.com/@name" is a link), and not "@" followed by a space ("meet @ 5").
HANDLE_PATTERN = re.compile(r"(?<![\w@./+-])@([A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)")
# "@5pm", "@10:30", "@17h30" are times, not handles.
_TIME = re.compile(r"\d{1,2}(?:[:.h]\d{2})?(?:am|pm|h)?", re.IGNORECASE)
_LETTER = re.compile(r"[A-Za-z]")


def _blank(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """The text with the pattern's matches replaced by spaces, and whether there were any:
    a number inside an address or a link (wa.me/1780...) is that address or link, not a
    phone number as well."""
    found = False

    def spaces(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        return " " * len(match.group())

    return pattern.sub(spaces, text), found


def _has_handle(text: str) -> bool:
    for match in HANDLE_PATTERN.finditer(text):
        name = match.group(1)
        if _LETTER.search(name) and not _TIME.fullmatch(name):
            return True
    return False


def phone_numbers_in(text: str, *, region: str) -> set[str]:
    """The valid phone numbers written in the text, in E.164 form, however they are spaced
    or punctuated ("(780) 555-0123", "780.555.0123", "+1 780 555 0123")."""
    if sum(ch.isdigit() for ch in text) < MIN_PHONE_DIGITS:
        return set()
    return {
        phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
        for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID)
    }


@functools.lru_cache(maxsize=256)
def _numbers_in_texts(texts: tuple[str, ...], region: str) -> frozenset[str]:
    # Cached: programme texts change rarely and are the same for every message of a programme;
    # the key is the texts themselves, so an edited text is never answered from the cache.
    found: set[str] = set()
    for text in texts:
        found |= phone_numbers_in(text, region=region)
    return frozenset(found)


def programme_numbers(programme: Programme, *, region: str) -> frozenset[str]:
    """The programme's own numbers, in E.164 form: its SMS number and every number in its
    crisis resources and contact texts. A peer supporter giving these is doing the job."""
    texts: list[str] = []
    for field in (programme.crisis_resources, programme.contact_text):
        if isinstance(field, dict):
            texts.extend(value for value in field.values() if isinstance(value, str))
    numbers = _numbers_in_texts(tuple(texts), region)
    return (numbers | {programme.sms_number}) if programme.sms_number else numbers


def contact_details_in(body: str, *, region: str, programme: Programme | None = None) -> list[str]:
    """The kinds of personal contact details in the body, in the order of `KINDS`: `phone`,
    `email`, `handle`, `link` (a social-media or messenger profile or chat). Numbers of the
    programme (its SMS number, its crisis lines) do not count. `region` is the country whose
    numbering plan numbers without a "+" belong to (settings.PHONE_DEFAULT_REGION)."""
    found: set[str] = set()
    text, has_email = _blank(body, EMAIL_PATTERN)
    if has_email:
        found.add(EMAIL)
    text, has_link = _blank(text, LINK_PATTERN)
    if has_link:
        found.add(LINK)
    if _has_handle(text):
        found.add(HANDLE)
    numbers = phone_numbers_in(text, region=region)
    if numbers and programme is not None:
        numbers -= programme_numbers(programme, region=region)
    if numbers:
        found.add(PHONE)
    return [kind for kind in KINDS if kind in found]


def kinds_label(kinds: Iterable[str]) -> str:
    """The kinds in words, for the warning's detail: "a phone number and an email address"."""
    names = {
        PHONE: "a phone number",
        EMAIL: "an email address",
        HANDLE: "a social-media handle",
        LINK: "a social-media or messenger link",
    }
    parts = [names[kind] for kind in kinds if kind in names]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
