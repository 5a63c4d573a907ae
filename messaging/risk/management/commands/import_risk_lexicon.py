"""Load crisis lexicon files into the database (the shipped ones when no file is named).
Re-importing updates by key and never switches back on an entry an admin switched off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.risk.lexicon import (
    LexiconFileError,
    import_lexicon,
    read_lexicon_file,
    shipped_files,
)


class Command(BaseCommand):
    help = "Import crisis lexicon YAML files (default: the shipped ones)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        paths = options["files"] or shipped_files()
        try:
            parsed = [read_lexicon_file(path) for path in paths]
        except LexiconFileError as exc:
            raise CommandError(str(exc)) from None
        for language, entries in parsed:
            counts = import_lexicon(language, entries)
            self.stdout.write(
                f"{language}: {counts.created} new, {counts.updated} updated, "
                f"{counts.unchanged} unchanged"
            )
