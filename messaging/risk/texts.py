"""The service's own safety texts, by language (programme crisis resources are added from the
programme in the person's language). None of them is personal data."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from messaging.sms.texts import fit_to_one_sms
from programmes.models import Programme

CRISIS_REPLY = {
    "en": "We're worried about what you wrote, and someone from the team has been told.",
    "fr": "Ce que vous avez écrit nous inquiète, et une personne de l'équipe a été prévenue.",
}
# When a programme has set no crisis resources: never send someone in crisis nothing.
CRISIS_FALLBACK = {
    "en": "If you are in danger now, call your local emergency number.",
    "fr": "Si vous êtes en danger maintenant, appelez le numéro d'urgence local.",
}
AWAY_REPLY = {
    "en": "Your peer supporter is away and will answer {when}.",
    "fr": "Votre pair aidant est absent et vous répondra {when}.",
}
AWAY_UNKNOWN = {
    "en": "when they are back",
    "fr": "à son retour",
}
AWAY_WHEN = {
    "en": "from {weekday} {time}",
    "fr": "à partir de {weekday} {time}",
}
WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
CRISIS_LINE = {
    "en": "If you need help now:",
    "fr": "Si vous avez besoin d'aide maintenant :",
}
ESCALATION = (
    "peerlink ({programme}): a risk alert is waiting for someone to acknowledge it. "
    "Please open peerlink now."
)


def _in(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts["en"]


def crisis_resources(programme: Programme | None, language: str) -> str:
    text = programme.crisis_text(language) if programme is not None else ""
    return text or _in(CRISIS_FALLBACK, language)


def crisis_reply(programme: Programme | None, language: str) -> str:
    # Cut to one SMS rather than refused: a long programme text must never stop the reply
    # (or, since it is posted in the person's own transaction, their message).
    return fit_to_one_sms(f"{_in(CRISIS_REPLY, language)}\n{crisis_resources(programme, language)}")


def away_reply(
    programme: Programme, language: str, back_at: dt.datetime | None, time_zone: str
) -> str:
    """'Your peer supporter is away and will answer from Tuesday 09:00.' in the person's own
    time zone, then the programme's crisis resources."""
    if back_at is None:
        when = _in(AWAY_UNKNOWN, language)
    else:
        local = back_at.astimezone(ZoneInfo(time_zone))
        weekday = (WEEKDAYS.get(language) or WEEKDAYS["en"])[local.weekday()]
        when = _in(AWAY_WHEN, language).format(weekday=weekday, time=local.strftime("%H:%M"))
    return fit_to_one_sms(
        f"{_in(AWAY_REPLY, language).format(when=when)}\n"
        f"{_in(CRISIS_LINE, language)} {crisis_resources(programme, language)}"
    )


def escalation_text(programme: Programme | None) -> str:
    return ESCALATION.format(programme=programme.name if programme is not None else "SMS")
