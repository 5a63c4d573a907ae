"""The local profile's in-process beat runs the beat schedule's tasks on their intervals."""

from __future__ import annotations

from peerlink.local_beat import Entry, run_due, schedule_entries


def test_the_local_beat_follows_the_celery_beat_schedule() -> None:
    tasks = {entry.task for entry in schedule_entries()}
    assert {"messaging.sweep_sms_outbox", "risk.escalate_alerts"} <= tasks


def test_an_entry_runs_when_due_and_then_waits_its_interval() -> None:
    entries = [Entry("tick", "some.task", every=15.0)]
    ran: list[str] = []
    assert run_due(entries, 100.0, ran.append) == ["tick"]
    assert run_due(entries, 110.0, ran.append) == []
    assert run_due(entries, 115.0, ran.append) == ["tick"]
    assert ran == ["some.task", "some.task"]


def test_a_failing_task_does_not_stop_the_others() -> None:
    entries = [Entry("bad", "bad.task", every=5.0), Entry("good", "good.task", every=5.0)]
    ran: list[str] = []

    def run(task: str) -> None:
        if task == "bad.task":
            raise RuntimeError("boom")
        ran.append(task)

    assert run_due(entries, 0.0, run) == ["bad", "good"]
    assert ran == ["good.task"]
