from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain and report the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if not report.intact:
            raise CommandError(
                f"audit chain broken at entry #{report.broken_at}: {report.problem} "
                f"({report.entries_checked} entries verified before it)"
            )
        self.stdout.write(f"audit chain intact: {report.entries_checked} entries verified")
