"""Write a message library to a file in the format `import_library` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduling.library_format import dump_library
from scheduling.models import MessageLibrary
from scheduling.selectors import library_spec


class Command(BaseCommand):
    help = "Export a message library (YAML) that import_library reads back unchanged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("library", help="the library's slug")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        library = MessageLibrary.objects.filter(slug=options["library"]).first()
        if library is None:
            raise CommandError("no library with this slug")
        options["out"].write_text(dump_library(library_spec(library)), encoding="utf-8")
        self.stdout.write(f"{library.slug}: {library.messages.count()} messages written")
