"""One escalation tick (what beat runs every 15 s): text the next on-call level for every
open alert whose escalation minute has come."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from messaging.risk.services import escalate_due_alerts


class Command(BaseCommand):
    help = "Escalate risk alerts that nobody has acknowledged in time (one tick)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{escalate_due_alerts()} escalation step(s) taken")
