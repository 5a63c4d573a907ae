"""manage.py import_instrument FILE | --built-in"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outcomes.instrument_format import (
    BUILT_IN,
    InstrumentFileError,
    InstrumentSpec,
    built_in,
    read_instrument_file,
)
from outcomes.services import import_instrument
from peerlink.errors import DomainError


class Command(BaseCommand):
    help = (
        "Import an outcome instrument (YAML or JSON, schema in outcomes/instruments/schema.json), "
        "or with --built-in the shipped PHQ-9, GAD-7 and WHO-5. Re-importing the same content "
        "changes nothing; changed content needs a new version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, nargs="?")
        parser.add_argument("--built-in", action="store_true", help="the shipped instruments")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path | None = options["file"]
        if (path is None) == (not options["built_in"]):
            raise CommandError("give either a FILE or --built-in")
        specs: list[tuple[str, InstrumentSpec]] = []
        if path is not None:
            try:
                specs.append((path.name, read_instrument_file(path)))
            except OSError as exc:
                raise CommandError(f"cannot read {path.name}: {type(exc).__name__}") from None
            except InstrumentFileError as exc:
                raise CommandError(f"{path.name}: {exc}") from None
        else:
            specs.extend((f"{slug}.yaml", built_in(slug)) for slug in BUILT_IN)
        for label, spec in specs:
            try:
                outcome = import_instrument(spec=spec, built_in=path is None)
            except DomainError as exc:
                raise CommandError(f"{label}: {exc.message}") from None
            self.stdout.write(f"{spec.slug} v{spec.version}: {outcome}")
