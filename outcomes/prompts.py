"""The words of a survey's texts, written at send time from the instrument, the programme
and the prompt's kind (SurveyPrompt holds no text, so nothing personal waits in the outbox).

Kept short: every SMS segment is paid for and read on small screens. STOP and HELP are named
in the introduction, as carriers and the person's safety both require."""

from __future__ import annotations

from outcomes.instrument_format import InstrumentSpec, ItemSpec
from outcomes.links import survey_url
from outcomes.models import PromptKind, SurveyPrompt, SurveySession
from outcomes.selectors import spec_of

SECONDS_PER_ITEM = 20


def localised(texts: dict[str, str], language: str, spec: InstrumentSpec) -> str:
    """A text of the instrument in `language`, or in its first language."""
    return texts.get(language) or texts[spec.languages[0]]


def options_line(item: ItemSpec, language: str, spec: InstrumentSpec) -> str:
    return "\n".join(f"{o.value} = {localised(o.label, language, spec)}" for o in item.options)


def answer_guidance(item: ItemSpec) -> str:
    values = sorted(item.values)
    if values == list(range(values[0], values[-1] + 1)):
        return f"Please reply with one number from {values[0]} to {values[-1]}."
    return "Please reply with one of: " + ", ".join(str(v) for v in values) + "."


def question(spec: InstrumentSpec, key: str, language: str) -> str:
    item = spec.item(key)
    number = [i.key for i in spec.items].index(key) + 1
    return (
        f"Q{number}/{len(spec.items)}: {localised(item.text, language, spec)}\n"
        f"{options_line(item, language, spec)}"
    )


def _programme_name(session: SurveySession) -> str:
    return session.enrolment.programme.name


def _minutes(spec: InstrumentSpec) -> int:
    return max(1, round(len(spec.items) * SECONDS_PER_ITEM / 60))


def survey_prompt_text(prompt_id: int) -> str:
    """The words of a queued survey text, read with what they need in one query."""
    prompt = SurveyPrompt.objects.select_related(
        "session__instrument", "session__enrolment__programme", "session__link"
    ).get(pk=prompt_id)
    return prompt_text(prompt)


def prompt_text(prompt: SurveyPrompt) -> str:
    session = prompt.session
    assert session.instrument is not None
    spec = spec_of(session.instrument)
    language = session.language or spec.languages[0]
    stem = localised(spec.stem, language, spec) if spec.stem else ""
    kind = prompt.kind
    if kind in (PromptKind.LINK, PromptKind.LINK_REMINDER):
        opener = "A reminder: " if kind == PromptKind.LINK_REMINDER else ""
        return (
            f"{_programme_name(session)}: {opener}please answer a short survey "
            f"({spec.name}, {len(spec.items)} questions, about {_minutes(spec)} min): "
            f"{survey_url(session.link.pk)}"
        )
    if kind == PromptKind.THANKS:
        return "Thank you, that is the survey done. Your answers are saved."
    if kind == PromptKind.PAUSED:
        return (
            "No problem, we will pause the survey here. Your answers so far are saved, and "
            "we will text you again later to carry on."
        )
    ask = question(spec, prompt.item_key, language)
    if kind == PromptKind.INTRO:
        return (
            f"{_programme_name(session)}: a short survey, {spec.name}: {len(spec.items)} "
            f"questions, about {_minutes(spec)} min. Reply to each with the number (or the "
            "words) of your answer. STOP and HELP still work.\n"
            f"{stem}\n{ask}"
        )
    if kind == PromptKind.REMINDER:
        return f"{_programme_name(session)}: a reminder, your survey is waiting.\n{stem}\n{ask}"
    if kind == PromptKind.REASK:
        guidance = answer_guidance(spec.item(prompt.item_key))
        return f"Sorry, we could not read that as an answer. {guidance}\n{ask}"
    return ask
