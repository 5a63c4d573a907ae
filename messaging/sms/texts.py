"""The service's own SMS texts and thread notices. Programme texts (contact, crisis resources)
come from the programme in the person's language; the rest from settings. None of them is
personal data."""

from __future__ import annotations

from django.conf import settings

from messaging.sms.backends import MAX_BODY_CHARS
from programmes.models import Programme

# Notices in the thread (channel `system`): read by staff, and by the person on the web.
NOTICE_OPTED_OUT = (
    "SMS is off: this person texted STOP. Nothing will be texted to them until they text START."
)
NOTICE_OPTED_OUT_BY_CARRIER = (
    "SMS is off: the phone company reports that this number has opted out of texts. Nothing "
    "will be texted until the person texts START."
)
NOTICE_OPTED_IN = "SMS is on again: this person texted START."
NOTICE_NO_TEXT = (
    "A text arrived with no words (for example only a picture), which peerlink can't show."
)
NOTICE_MEDIA = "The text came with a picture or file, which peerlink can't show."
NOTICE_TEXTED_WITHOUT_SMS = (
    "This person texted, but SMS is off for them: replies reach them on the web only."
)


def help_text(programme: Programme | None, language: str) -> str:
    """The answer to HELP: the programme's contact and crisis resources in the person's
    language, or the service-wide text when the programme has none."""
    parts = []
    if programme is not None:
        parts = [programme.contact(language), programme.crisis_text(language)]
    text = "\n".join(part for part in parts if part)
    return fit_to_one_sms(text or settings.SMS_HELP_FALLBACK)


def fit_to_one_sms(text: str) -> str:
    """A programme's long texts are cut to one SMS rather than refused, so that the answer
    to HELP always goes out."""
    return text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - 1] + "…"


def unknown_sender_text(programme: Programme | None) -> str:
    """The polite reply to a number we could not match, with the programme's crisis resources
    when the text was routed to one. Empty when replies to unknown numbers are turned off."""
    reply: str = settings.SMS_UNKNOWN_SENDER_REPLY
    if not reply:
        return ""
    crisis = programme.crisis_text(programme.languages[0]) if programme is not None else ""
    return fit_to_one_sms(f"{reply}\n{crisis}" if crisis else reply)


def no_conversation_text(programme: Programme | None, language: str) -> str:
    """For a person enrolled without peer support (or whose enrolment ended) who writes in:
    nobody reads this number for them, and here is where to get help."""
    return fit_to_one_sms(f"{settings.SMS_NO_CONVERSATION_REPLY}\n{help_text(programme, language)}")
