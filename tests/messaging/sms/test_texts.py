"""The service's own SMS texts: a programme's long contact or crisis text is cut to what one
SMS can carry (1,600 characters), so that the answer to HELP always goes out."""

from __future__ import annotations

import pytest

from messaging.sms import texts
from tests.support.factories import make_programme

pytestmark = pytest.mark.django_db


def test_the_help_text_is_the_contact_then_the_crisis_resources_in_the_language() -> None:
    programme = make_programme(
        contact_text={"en": "Contact us.", "fr": "Contactez-nous."},
        crisis_resources={"en": "Call 988.", "fr": "Appelez le 988."},
    )
    assert texts.help_text(programme, "fr") == "Contactez-nous.\nAppelez le 988."


def test_a_language_the_programme_lacks_falls_back_to_its_first() -> None:
    programme = make_programme(contact_text={"en": "Contact us."}, crisis_resources={})
    assert texts.help_text(programme, "fr") == "Contact us."


def test_a_programme_without_texts_answers_with_the_service_wide_text(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SMS_HELP_FALLBACK = "The service-wide help."
    programme = make_programme(contact_text={}, crisis_resources={})
    assert texts.help_text(programme, "en") == "The service-wide help."


def test_an_overlong_programme_text_is_cut_to_one_sms() -> None:
    programme = make_programme(contact_text={"en": "x" * 1000}, crisis_resources={"en": "y" * 1000})
    text = texts.help_text(programme, "en")
    assert len(text) == 1600
    assert text.startswith("x" * 1000 + "\n") and text.endswith("…")


def test_replies_to_unknown_numbers_can_be_turned_off(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SMS_UNKNOWN_SENDER_REPLY = ""
    assert texts.unknown_sender_text(make_programme()) == ""
