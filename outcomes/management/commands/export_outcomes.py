"""manage.py export_outcomes --programme SLUG --out DIR [--k N] [--quasi-identifiers ...]
[--redcap]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outcomes.export.anonymity import DEFAULT_K, DEFAULT_QUASI_IDENTIFIERS, HIERARCHIES
from outcomes.export.services import export_programme
from peerlink.errors import DomainError
from programmes.models import Programme


class Command(BaseCommand):
    help = (
        "Export a programme's anonymised participants, survey results and weekly engagement "
        "as CSV with datapackage.json and codebook.md (and, with --redcap, a REDCap import). "
        "Needs the study's key in PEERLINK_EXPORT_KEYS. The export is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--programme", required=True, help="programme slug")
        parser.add_argument("--out", required=True, type=Path, help="new or empty folder")
        parser.add_argument("--k", type=int, default=DEFAULT_K, help="k-anonymity (default 5)")
        parser.add_argument(
            "--quasi-identifiers",
            nargs="+",
            default=list(DEFAULT_QUASI_IDENTIFIERS),
            choices=sorted(HIERARCHIES),
            metavar="NAME",
            help=f"checked for k-anonymity (default: {' '.join(DEFAULT_QUASI_IDENTIFIERS)}; "
            f"any of {', '.join(sorted(HIERARCHIES))})",
        )
        parser.add_argument("--redcap", action="store_true", help="also the REDCap files")

    def handle(self, *args: Any, **options: Any) -> None:
        programme = Programme.objects.filter(slug=options["programme"]).first()
        if programme is None:
            raise CommandError(f"No programme {options['programme']!r}.")
        try:
            result = export_programme(
                programme=programme,
                out_dir=options["out"],
                k=options["k"],
                quasi_identifiers=options["quasi_identifiers"],
                redcap_files=options["redcap"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        deid = result.deidentification
        suppressed = sum(deid["suppressed_values"].values())
        self.stdout.write(
            f"Exported {result.participants} participants of {programme.slug} to "
            f"{result.directory} ({result.excluded_without_research_consent} left out without "
            f"research consent; k={deid['k']}, {suppressed} values suppressed)."
        )
        for file in result.files:
            rows = "" if file.rows is None else f"{file.rows} rows, "
            self.stdout.write(f"  {file.name}: {rows}{file.bytes} bytes, sha256 {file.sha256}")
