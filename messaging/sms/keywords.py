"""The reserved SMS keywords of DESIGN.md §4: the whole message, in any case, with the
surrounding spaces ignored. They win over anything else that is open (a survey session, a
conversation)."""

from __future__ import annotations

import enum
import re
import unicodedata


class Keyword(enum.Enum):
    STOP = "stop"
    START = "start"
    HELP = "help"


KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("START", "UNSTOP", "YES"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
    # French, as Canadian carriers honour them (an extension of DESIGN.md §4's list).
    **dict.fromkeys(("ARRET", "ARRÊT"), Keyword.STOP),
    **dict.fromkeys(("AIDE",), Keyword.HELP),
}
# Twilio's Advanced Opt-Out names the keyword it acted on (it may know others, configured in
# its console): `OptOutType` on the inbound webhook.
OPT_OUT_TYPES: dict[str, Keyword] = {
    "STOP": Keyword.STOP,
    "START": Keyword.START,
    "HELP": Keyword.HELP,
}

# Phones and keyboards add these around a word: invisible characters that `str.strip` keeps
# (zero-width spaces and joiners, the word joiner, the byte order mark, the emoji variation
# selector, and the direction marks, embeddings and isolates right-to-left keyboards
# insert), and a full stop or
# exclamation mark typed after the word.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\u061c\ufe0f\ufeff]")
_TRAILING_PUNCTUATION = re.compile(r"[.!]+$")


def parse_keyword(body: str) -> Keyword | None:
    """The keyword the whole message is, or None. NFKC folds full-width and styled letters
    (full-width STOP) into plain ones; case and surrounding whitespace of any kind are ignored."""
    text = unicodedata.normalize("NFKC", body)
    text = _INVISIBLE.sub("", text).strip()
    text = _TRAILING_PUNCTUATION.sub("", text).strip()
    if not text or len(text) > 16:
        return None
    return KEYWORDS.get(text.upper())


def keyword_of(body: str, opt_out_type: str = "") -> Keyword | None:
    """The keyword of an inbound text: ours, or the one Twilio says it acted on."""
    return parse_keyword(body) or OPT_OUT_TYPES.get(opt_out_type.strip().upper())
