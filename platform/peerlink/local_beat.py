"""The local profile's beat (`make run`): one daemon thread in the server process that runs
the beat schedule's tasks, in process (tasks are eager locally), so that the demo retries
texts and escalates risk alerts like production does.

Hand-written on purpose: `celery beat` needs a broker shared with a worker, which the
one-process local profile does not have. Production runs exactly one real `celery beat`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_started = threading.Event()


@dataclass
class Entry:
    name: str
    task: str
    every: float
    due: float = 0.0


def schedule_entries() -> list[Entry]:
    entries = []
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():
        every, task = spec["schedule"], spec["task"]
        if isinstance(every, int | float) and isinstance(task, str):
            entries.append(Entry(name, task, float(every)))
    return entries


def run_due(entries: list[Entry], now: float, run: Callable[[str], object]) -> list[str]:
    """Run every entry that is due at `now` (monotonic seconds) and book its next time.
    Returns the names run. A failing task is logged and retried at its next time."""
    ran = []
    for entry in entries:
        if entry.due > now:
            continue
        entry.due = now + entry.every
        try:
            run(entry.task)
        except Exception as exc:  # a failed tick must not stop the beat
            logger.warning("local beat: %s failed: %s", entry.name, type(exc).__name__)
        finally:
            close_old_connections()
        ran.append(entry.name)
    return ran


def load_tasks() -> set[str]:
    """Import every app's tasks module (what a Celery worker does when it starts): a web
    process imports only those its code happens to use. The names of the tasks registered."""
    from peerlink.celery import app

    app.loader.import_default_modules()
    return set(app.tasks)


def _run_task(task_name: str) -> object:
    from peerlink.celery import app

    return app.tasks[task_name].apply().get()


def start_local_beat() -> bool:
    """Start the thread once per process; False when it was already running or the profile
    does not want it (LOCAL_BEAT)."""
    if not getattr(settings, "LOCAL_BEAT", False) or _started.is_set():
        return False
    _started.set()
    entries = schedule_entries()
    missing = {entry.task for entry in entries} - load_tasks()
    if missing:
        logger.error("local beat: tasks not found: %s", ", ".join(sorted(missing)))

    def loop() -> None:
        while True:
            run_due(entries, time.monotonic(), _run_task)
            time.sleep(1.0)

    threading.Thread(target=loop, name="peerlink-local-beat", daemon=True).start()
    return True
