"""Writes for outcome measurement (HackSoft style: keyword arguments, one transaction)."""

from __future__ import annotations

import enum

from django.db import transaction

from audit.services import record
from outcomes.instrument_format import BUILT_IN, InstrumentSpec, built_in
from outcomes.models import Instrument
from peerlink.errors import Conflict
from people.models import User


class ImportOutcome(enum.StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"


@transaction.atomic
def import_instrument(
    *, spec: InstrumentSpec, built_in: bool = False, imported_by: User | None = None
) -> ImportOutcome:
    """Store a parsed instrument version. The same content again changes nothing; different
    content under a version already stored is refused, since answers given to that version
    would change meaning: a changed instrument is a new version."""
    existing = (
        Instrument.objects.select_for_update().filter(slug=spec.slug, version=spec.version).first()
    )
    if existing is not None:
        if existing.content_hash != spec.content_hash:
            raise Conflict(
                "instrument_version_exists",
                f"{spec.slug} version {spec.version} is already stored with other content; "
                "give the changed instrument a new version.",
            )
        return ImportOutcome.UNCHANGED
    instrument = Instrument.objects.create(
        slug=spec.slug,
        version=spec.version,
        name=spec.name,
        languages=list(spec.languages),
        licence=spec.licence,
        citation=spec.citation,
        definition=spec.document,
        content_hash=spec.content_hash,
        built_in=built_in,
    )
    if built_in:
        # Shipped with the release and loaded on every migrate: the release is its record.
        return ImportOutcome.CREATED
    # Last: the audit chain's lock is held from here to the commit.
    record(
        action="instrument.imported",
        actor=imported_by,
        target=instrument,
        details={"slug": spec.slug, "version": spec.version},
    )
    return ImportOutcome.CREATED


def import_built_in_instruments() -> dict[str, ImportOutcome]:
    """The shipped instruments (outcomes/instruments/), each in its own transaction."""
    return {slug: import_instrument(spec=built_in(slug), built_in=True) for slug in BUILT_IN}
