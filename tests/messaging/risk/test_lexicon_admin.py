"""The lexicon in the Django admin: `LexiconEntryForm` refuses entries that could not work,
and entries added there are the admin's own (`source="admin"`), which a file import never
touches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from messaging.risk.admin import LexiconEntryForm
from messaging.risk.detection import screen
from messaging.risk.lexicon import clear_cache, import_shipped_lexicons, lexicon_for
from messaging.risk.models import LexiconEntry
from tests.support.factories import World

LANG = "xx"


@pytest.fixture(autouse=True)
def _fresh_lexicon_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def superuser_client(world: World) -> Client:
    world.admin.is_staff = True
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(world.admin)
    return client


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "language": LANG,
        "kind": "phrase",
        "text": "want to die",
        "replacement": "",
        "category": "suicide",
        "severity": "high",
        "active": "on",
    }
    data.update(overrides)
    return data


def form_errors(**overrides: str) -> list[str]:
    form = LexiconEntryForm(data=form_data(**overrides))
    assert not form.is_valid()
    return list(form.non_field_errors())


# The form


def test_a_complete_phrase_is_accepted(db: None) -> None:
    assert LexiconEntryForm(data=form_data()).is_valid()


def test_an_invalid_regex_is_refused(db: None) -> None:
    errors = form_errors(kind="pattern", text="(unclosed")
    assert len(errors) == 1
    assert errors[0].startswith("Not a valid regular expression:")


def test_a_valid_regex_is_accepted(db: None) -> None:
    assert LexiconEntryForm(data=form_data(kind="pattern", text=r"\bsuicid\w*")).is_valid()


def test_an_invalid_regex_is_allowed_as_a_phrase(db: None) -> None:
    # Phrases are words, not regular expressions: brackets are only punctuation there.
    assert LexiconEntryForm(data=form_data(kind="phrase", text="(unclosed")).is_valid()


def test_a_spelling_without_a_replacement_is_refused(db: None) -> None:
    errors = form_errors(kind="spelling", text="kms", replacement="")
    assert errors == ["A spelling needs what it means (replacement)."]


def test_a_spelling_with_a_replacement_is_accepted(db: None) -> None:
    data = form_data(kind="spelling", text="kms", replacement="kill myself", category="")
    assert LexiconEntryForm(data=data).is_valid()


def test_a_phrase_without_a_category_is_refused(db: None) -> None:
    assert form_errors(category="") == ["Phrases and patterns need a category."]


def test_a_pattern_without_a_category_is_refused(db: None) -> None:
    errors = form_errors(kind="pattern", text=r"\bzorp\b", category="")
    assert errors == ["Phrases and patterns need a category."]


def test_a_negation_needs_no_category(db: None) -> None:
    assert LexiconEntryForm(data=form_data(kind="negation", text="nah", category="")).is_valid()


def test_a_repeated_entry_is_refused(db: None) -> None:
    LexiconEntry.objects.create(language=LANG, kind="phrase", text="want to die")
    form = LexiconEntryForm(data=form_data())
    assert not form.is_valid()


# Through the admin site


def test_an_entry_added_in_the_admin_is_the_admins(superuser_client: Client) -> None:
    response = superuser_client.post(reverse("admin:risk_lexiconentry_add"), form_data())
    assert response.status_code == 302
    entry = LexiconEntry.objects.get(language=LANG, kind="phrase", text="want to die")
    assert entry.source == "admin"


def test_an_entry_added_in_the_admin_screens_at_once(superuser_client: Client) -> None:
    assert not screen("zorp", [lexicon_for(LANG)]).is_risk
    superuser_client.post(reverse("admin:risk_lexiconentry_add"), form_data(text="zorp"))
    assert screen("zorp", [lexicon_for(LANG)]).is_risk


def test_the_admin_refuses_an_invalid_regex_and_saves_nothing(superuser_client: Client) -> None:
    before = LexiconEntry.objects.count()
    response = superuser_client.post(
        reverse("admin:risk_lexiconentry_add"), form_data(kind="pattern", text="(unclosed")
    )
    assert response.status_code == 200
    assert b"Not a valid regular expression" in response.content
    assert LexiconEntry.objects.count() == before


def test_switching_off_a_shipped_entry_keeps_it_a_file_entry(superuser_client: Client) -> None:
    entry = LexiconEntry.objects.get(language="en", kind="phrase", text="want to die")
    data: dict[str, Any] = form_data(language="en")
    del data["active"]
    response = superuser_client.post(
        reverse("admin:risk_lexiconentry_change", args=[entry.pk]), data
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.active, entry.source) == (False, "file")


def test_a_shipped_entry_switched_off_in_the_admin_stays_off_after_import(
    superuser_client: Client,
) -> None:
    entry = LexiconEntry.objects.get(language="en", kind="phrase", text="want to die")
    data: dict[str, Any] = form_data(language="en")
    del data["active"]
    superuser_client.post(reverse("admin:risk_lexiconentry_change", args=[entry.pk]), data)
    import_shipped_lexicons()
    entry.refresh_from_db()
    assert entry.active is False


def test_a_staff_user_who_is_not_a_superuser_cannot_add(world: World) -> None:
    world.peer.is_staff = True
    world.peer.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(world.peer)
    response = client.post(reverse("admin:risk_lexiconentry_add"), form_data())
    assert response.status_code == 403
    assert not LexiconEntry.objects.filter(language=LANG).exists()


def test_risk_alerts_are_not_in_the_django_admin() -> None:
    from django.contrib import admin

    from messaging.risk.models import RiskAlert

    # Programme admins may not see alerts (DESIGN.md §5): supervisors handle them in the API.
    assert not admin.site.is_registered(RiskAlert)
