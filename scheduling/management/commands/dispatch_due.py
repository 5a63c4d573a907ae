"""`manage.py dispatch_due`: one scheduler tick, the same code as the beat's."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from outcomes.dispatch import dispatch_surveys
from scheduling.dispatch import dispatch_due
from scheduling.metrics import record_dispatch


class Command(BaseCommand):
    help = (
        "Send every supportive text and reminder that is due now, and every survey "
        "invitation, reminder and expiry (one tick of both dispatchers)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = dispatch_due()
        record_dispatch(result.outcomes)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "none due"
        self.stdout.write(f"Handled {result.handled}: {summary}.")
        surveys = dispatch_surveys()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(surveys.outcomes.items())) or "none due"
        self.stdout.write(f"Surveys: handled {surveys.handled}: {summary}.")
