"""Load a message library file (YAML; format in scheduling/library_format.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from peerlink.errors import DomainError
from scheduling.library_format import LibraryFileError, read_library
from scheduling.services import import_library


class Command(BaseCommand):
    help = "Import a message library file; re-importing updates by key without duplicating."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            spec = read_library(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read {path.name}: {type(exc).__name__}") from None
        except LibraryFileError as exc:
            raise CommandError(f"{path.name}: {exc}") from None
        try:
            counts = import_library(spec=spec)
        except DomainError as exc:
            raise CommandError(f"{path.name}: {exc.message}") from None
        self.stdout.write(
            f"{spec.slug}: {counts.created} new, {counts.updated} updated, "
            f"{counts.unchanged} unchanged"
        )
