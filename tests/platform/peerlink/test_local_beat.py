"""The local profile's in-process beat runs the beat schedule's tasks on their intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerlink.local_beat import Entry, run_due, schedule_entries


def test_the_local_beat_follows_the_celery_beat_schedule() -> None:
    tasks = {entry.task for entry in schedule_entries()}
    assert {"messaging.sweep_sms_outbox", "risk.escalate_alerts"} <= tasks


# run_due closes stale database connections after each task, as the real loop must: with a
# connection left open by an earlier test in the same worker, that touches the database.
@pytest.mark.django_db
def test_an_entry_runs_when_due_and_then_waits_its_interval() -> None:
    entries = [Entry("tick", "some.task", every=15.0)]
    ran: list[str] = []
    assert run_due(entries, 100.0, ran.append) == ["tick"]
    assert run_due(entries, 110.0, ran.append) == []
    assert run_due(entries, 115.0, ran.append) == ["tick"]
    assert ran == ["some.task", "some.task"]


@pytest.mark.django_db
def test_a_failing_task_does_not_stop_the_others() -> None:
    entries = [Entry("bad", "bad.task", every=5.0), Entry("good", "good.task", every=5.0)]
    ran: list[str] = []

    def run(task: str) -> None:
        if task == "bad.task":
            raise RuntimeError("boom")
        ran.append(task)

    assert run_due(entries, 0.0, run) == ["bad", "good"]
    assert ran == ["good.task"]


def test_every_scheduled_task_is_found_in_a_fresh_web_process(tmp_path: Path) -> None:
    # In a process of its own: the test process has imported every tasks module already,
    # which would hide a task that only a worker's start-up imports.
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    code = (
        "import django; django.setup()\n"
        "from peerlink.local_beat import load_tasks, schedule_entries\n"
        "missing = {e.task for e in schedule_entries()} - load_tasks()\n"
        "print(sorted(missing))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{root}:{root / 'platform'}",
            "DJANGO_SETTINGS_MODULE": "peerlink.settings.local",
            "PEERLINK_ENV": "local",
            "PEERLINK_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
