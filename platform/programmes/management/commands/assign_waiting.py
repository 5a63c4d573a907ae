"""`manage.py assign_waiting [--programme SLUG]`: one run of the beat task that assigns the
waiting queue to on-duty peer supporters (programmes with `auto_assign` on)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from programmes import services
from programmes.models import Programme


class Command(BaseCommand):
    help = "Assign people waiting for a peer supporter to suitable on-duty peer supporters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--programme", metavar="SLUG", help="only this programme")

    def handle(self, *args: Any, **options: Any) -> None:
        programme = None
        if options["programme"]:
            programme = Programme.objects.filter(slug=options["programme"]).first()
            if programme is None:
                raise CommandError("No programme with this slug.")
        assigned = services.assign_waiting(programme=programme)
        self.stdout.write(f"assigned {assigned}")
