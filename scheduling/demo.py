"""The demo programme's supportive texts (`seed_demo`, local profile only).

The shipped sample library is unapproved, as it must be: only a programme's clinically
approved content is ever sent. For the demo a copy of it (slug `demo-sample`) is approved in
the name of "Demo only (not clinically approved)", so that the demo shows texts arriving.
The demo's people are enrolled as of yesterday, and its second daily send time is a few
minutes after seeding, so that a fresh `make run` shows a text arrive the same day."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from people.models import User
from programmes.models import Enrolment, Programme
from scheduling.library_format import read_library
from scheduling.models import MessageLibrary, PendingSend, SendState, Stream
from scheduling.planning import PersonTiming, quiet_windows
from scheduling.services import configure_schedule, import_library
from scheduling.timing import zone

SAMPLE_LIBRARY = Path(__file__).resolve().parent / "libraries" / "sample_en.yaml"
DEMO_LIBRARY = "demo-sample"
DEMO_APPROVER = "Demo only (not clinically approved)"
MORNING = dt.time(9, 30)
# Minutes after seeding of the demo's second send time (rounded up to five minutes).
SOON_MINUTES = 3


def _demo_library(today: dt.date) -> MessageLibrary:
    spec = read_library(SAMPLE_LIBRARY.read_text(encoding="utf-8"))
    approved = tuple(
        dataclasses.replace(m, approver=DEMO_APPROVER, approved_on=today) for m in spec.messages
    )
    import_library(
        spec=dataclasses.replace(
            spec,
            slug=DEMO_LIBRARY,
            name="Sample texts, approved for the demo only",
            messages=approved,
        )
    )
    return MessageLibrary.objects.get(slug=DEMO_LIBRARY)


def _soon(now_local: dt.datetime) -> dt.time:
    soon = now_local + dt.timedelta(minutes=SOON_MINUTES + 4)
    soon = soon.replace(minute=soon.minute - soon.minute % 5, second=0, microsecond=0)
    return soon.time()


@transaction.atomic
def seed_demo_texts(*, programme: Programme, admin: User | None) -> None:
    now = timezone.now()
    local_now = now.astimezone(zone(programme.time_zone))
    library = _demo_library(local_now.date())
    # Enrolled yesterday: texts start "the day after enrolment", which is today.
    Enrolment.objects.filter(programme=programme).update(enrolled_at=now - dt.timedelta(days=1))
    soon = _soon(local_now)
    quiet = quiet_windows(None, PersonTiming(programme.time_zone, dt.time(21), dt.time(8)))
    times = [MORNING]
    if soon != MORNING and not any(w.contains(soon) for w in quiet):
        times.append(soon)
    configure_schedule(
        programme=programme,
        changed_by=admin,
        library=library,
        send_times=[t.strftime("%H:%M") for t in sorted(times)],
    )


def demo_texts_summary(slug: str) -> list[str]:
    """Lines for seed_demo's console: when the next demo text is due."""
    upcoming = (
        PendingSend.objects.filter(
            enrolment__programme__slug=slug,
            stream=Stream.SUPPORTIVE,
            state=SendState.SCHEDULED,
        )
        .select_related("enrolment__participant")
        .order_by("due_at")
        .first()
    )
    if upcoming is None or upcoming.due_at is None:
        return []
    tz = zone(upcoming.enrolment.participant.time_zone)
    local = upcoming.due_at.astimezone(tz)
    return [
        f"  next supportive text (sample content, approved for the demo only): "
        f"{local:%Y-%m-%d %H:%M} {tz.key}; it appears in the web thread or on this console."
    ]
