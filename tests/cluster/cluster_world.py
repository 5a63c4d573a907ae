"""Run with the cluster's settings and environment, against its database.

    python tests/cluster/cluster_world.py due-texts N  -> JSON: N people on SMS, each with one
                                                        supportive text due now

The bench's bulk world (bench/schedbench/schedbench_world.py: valid rows as the services
write them, real phone ciphertext for everyone texted), planned by `plan_programme`, then
every person's next text made due a minute ago, with nobody's quiet hours in the way: the
test is of who sends it, not of when it may go.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform"), str(ROOT / "bench" / "schedbench")]

import django  # noqa: E402

django.setup()

import schedbench_world  # noqa: E402
from django.utils import timezone  # noqa: E402

from people.models import Participant  # noqa: E402
from scheduling.models import PendingSend, ProgrammeSchedule, SendState  # noqa: E402
from scheduling.services import plan_programme  # noqa: E402


def due_texts(size: int) -> dict[str, object]:
    now = timezone.now()
    world = schedbench_world.seed(size, now)
    people = Participant.objects.filter(enrolments__programme=world.programme)
    schedbench_world.real_ciphertext(list(people.values_list("pk", flat=True)))
    people.update(quiet_hours_start=dt.time(0), quiet_hours_end=dt.time(0))
    ProgrammeSchedule.objects.filter(programme=world.programme).update(
        quiet_hours_start=dt.time(0), quiet_hours_end=dt.time(0)
    )
    plan_programme(programme=world.programme, now=now)
    due = PendingSend.objects.filter(
        enrolment__programme=world.programme, state=SendState.SCHEDULED
    ).update(due_at=now - dt.timedelta(minutes=1), stale_at=now + dt.timedelta(hours=2))
    return {"programme": world.programme.pk, "due": due}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command != "due-texts":
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(due_texts(int(args[0]))))
