"""`manage.py plan_texts --programme SLUG`: plan (or recompute) every enrolment's supportive
texts, e.g. after approving library content or turning the schedule on in the admin."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from programmes.models import Programme
from scheduling.services import plan_programme


class Command(BaseCommand):
    help = "Plan the next supportive text of every active enrolment of a programme."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--programme", required=True, help="The programme's slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        programme = Programme.objects.filter(slug=options["programme"]).first()
        if programme is None:
            raise CommandError(f"No programme {options['programme']!r}.")
        counts = plan_programme(programme=programme)
        self.stdout.write(
            f"Planned {programme.slug}: {counts.created} new, {counts.replanned} replanned, "
            f"{counts.stopped} stopped."
        )
