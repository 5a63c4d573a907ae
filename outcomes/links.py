"""The web link of a survey session: `/surveys/<token>/`, where the token is the link's
random id signed with the project's secret (django.core.signing), so that a guessed or
altered token is refused before the database is asked. Expiry and single use are the
link row's (`SurveyLink.expires_at`, `used_at`): a signature cannot be revoked."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "outcomes.survey-link"


def token_of(link_id: uuid.UUID) -> str:
    return signing.Signer(salt=SALT).sign(link_id.hex)


def link_id_of(token: str) -> uuid.UUID | None:
    """The link a token names, or None for a token that was not made here."""
    try:
        value = signing.Signer(salt=SALT).unsign(token)
        return uuid.UUID(hex=value)
    except (signing.BadSignature, ValueError):
        return None


def survey_url(link_id: uuid.UUID) -> str:
    path = reverse("survey-form", kwargs={"token": token_of(link_id)})
    return settings.PEERLINK_PUBLIC_URL.rstrip("/") + path
