"""One size of the scheduler benchmark, in one process on a fresh database:

    python schedbench_worker.py JOB.json     prints one JSON line of results

Seeds the world (schedbench_world.py), then measures, each next to its baseline:

- planning: `plan_programme` creating every pending row, against `plan_enrolment` per
  enrolment (the path an enrolment takes on its own) on a sample; a replan
  (`configure_schedule` moving the send time) against `plan_enrolment` on existing rows;
- dispatch: `dispatch_due` on a sample of rows made due, against bare writes of the same
  sends (`post_message` for people with a conversation; a send record and `queue_sms` for the
  others) to other people of the same mix. Three modes: `queue` (Celery not eager: the
  outbox rows and their tasks on the Redis broker, no worker, as the dispatcher's process
  does in production); `send` (Celery eager: each task runs after the batch commits and
  sends through the real twilio library to the zero-latency fake Twilio HTTP client, in this
  one process); `workers` (as `queue`, with one real Celery worker process beside it, as
  deploy runs them, sending through twilio to the fake; timed until every text is sent).

Time is frozen at the job's `now` for planning (every call takes `now`; the replan's
`configure_schedule`, which reads the clock, runs with `django.utils.timezone.now` patched to
it) and dispatch ticks at `now`, so that the rows due are exactly the sample, at a time of
day when none of the sample's time zones is in quiet hours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform"), str(Path(__file__).resolve().parent)]

import django  # noqa: E402

django.setup()

import schedbench_world  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from messaging.models import (  # noqa: E402
    Conversation,
    DeliveryStatus,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    OutboxTemplate,
    SenderRole,
    SmsOutbox,
)
from messaging.services import post_message  # noqa: E402
from messaging.sms.outbox import queue_sms  # noqa: E402
from peerlink.celery import app as celery_app  # noqa: E402
from programmes.models import Enrolment  # noqa: E402
from scheduling.dispatch import DEFAULT_BATCH, dispatch_due  # noqa: E402
from scheduling.models import (  # noqa: E402
    LibraryMessage,
    PendingSend,
    SendOutcome,
    SendRecord,
    SendState,
    Stream,
)
from scheduling.services import configure_schedule, plan_enrolment, plan_programme  # noqa: E402

STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[scheduler worker {time.monotonic() - STARTED:5.0f}s] {text}", file=sys.stderr)


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@contextlib.contextmanager
def timed(into: dict[str, Any]) -> Iterator[None]:
    """Wall and this process's CPU seconds, and the queries sent, into `into`."""
    counter = QueryCounter()
    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counter):
        yield
    into["seconds"] = time.perf_counter() - wall
    into["cpu_seconds"] = time.process_time() - cpu
    into["queries"] = counter.count


def per(result: dict[str, Any], count: int) -> dict[str, Any]:
    result["count"] = count
    result["us_per_item"] = result["seconds"] / max(count, 1) * 1e6
    result["per_second"] = count / max(result["seconds"], 1e-9)
    result["queries_per_item"] = result["queries"] / max(count, 1)
    return result


def sample_enrolments(world: schedbench_world.World, count: int, rng: random.Random) -> list[Any]:
    numbers = rng.sample(range(1, world.size + 1), min(count, world.size))
    return [schedbench_world.md5_uuid(f"bench-enrolment-{n}") for n in numbers]


def naive_plan(ids: list[Any], now: dt.datetime) -> None:
    """The per-enrolment path: what `enrolment_started` runs for one new enrolment, here in a
    loop (the enrolment's person, arm and programme loaded with it, as after enrolling)."""
    enrolments = Enrolment.objects.filter(pk__in=ids).select_related(
        "participant", "arm", "programme"
    )
    for enrolment in enrolments.iterator(chunk_size=1000):
        plan_enrolment(enrolment=enrolment, now=now)


def planning(world: schedbench_world.World, job: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.fromisoformat(job["now"])
    rng = random.Random(job["seed"])
    sample = sample_enrolments(world, job["plan_sample"], rng)
    out: dict[str, Any] = {}
    log(f"planning baseline: plan_enrolment for {len(sample):,} enrolments")
    with timed(out.setdefault("baseline_create", {})):
        naive_plan(sample, now)
    per(out["baseline_create"], len(sample))
    PendingSend.objects.filter(enrolment_id__in=sample).delete()
    log(f"planning: plan_programme for {world.size:,} enrolments")
    with timed(out.setdefault("create", {})):
        counts = plan_programme(programme=world.programme, now=now)
    per(out["create"], world.size)
    out["create"]["counts"] = counts.__dict__
    log(f"replan: configure_schedule(send_times=['09:30']) for {world.size:,} enrolments")
    with (
        mock.patch("django.utils.timezone.now", return_value=now),
        timed(out.setdefault("replan", {})),
    ):
        configure_schedule(programme=world.programme, changed_by=None, send_times=["09:30"])
    per(out["replan"], world.size)
    log(f"replan baseline: plan_enrolment for {len(sample):,} existing rows")
    with timed(out.setdefault("baseline_replan", {})):
        naive_plan(sample, now)
    per(out["baseline_replan"], len(sample))
    rows = PendingSend.objects.filter(stream=Stream.SUPPORTIVE)
    out["check"] = {
        "rows": rows.count(),
        "scheduled": rows.filter(state=SendState.SCHEDULED).count(),
        "due_by_now": rows.filter(state=SendState.SCHEDULED, due_at__lte=now).count(),
        "distinct_due_at": rows.values("due_at").distinct().count(),
    }
    return out


def pick_rows(count: int, taken: set[int], rng: random.Random, pool: list[int]) -> list[int]:
    picked: list[int] = []
    while len(picked) < count:
        pk = pool[rng.randrange(len(pool))]
        if pk not in taken:
            taken.add(pk)
            picked.append(pk)
    return picked


def make_due(pks: list[int], now: dt.datetime) -> None:
    """Due a minute ago, going stale in two hours (as a 10:00 send with 180 minutes of
    staleness would be at 11:01)."""
    PendingSend.objects.filter(pk__in=pks).update(
        due_at=now - dt.timedelta(minutes=1), stale_at=now + dt.timedelta(hours=2)
    )


def bare_sends(pks: list[int], now: dt.datetime) -> None:
    """The least the same sends must write, without any scheduling: for a person with a
    conversation `post_message` (message, outbox row, doorbells); for one without, a send
    record (the outbox reads the text from it) and `queue_sms`. Batches of the dispatcher's
    size in one transaction, each send in a savepoint, as the dispatcher runs them."""
    rows = list(
        PendingSend.objects.filter(pk__in=pks)
        .select_related("enrolment__participant")
        .order_by("pk")
    )
    conversations = dict(
        Conversation.objects.filter(enrolment_id__in=[r.enrolment_id for r in rows]).values_list(
            "enrolment_id", "pk"
        )
    )
    texts = {
        (m.track, m.language): m
        for m in LibraryMessage.objects.filter(position=1, category="supportive")
    }
    expires = now + dt.timedelta(hours=2)
    for start in range(0, len(rows), DEFAULT_BATCH):
        with transaction.atomic():
            for row in rows[start : start + DEFAULT_BATCH]:
                enrolment = row.enrolment
                participant = enrolment.participant
                text = texts[(enrolment.track, participant.language)]
                with transaction.atomic():
                    conversation = conversations.get(row.enrolment_id)
                    if conversation is not None:
                        post_message(
                            conversation_id=conversation,
                            sender=None,
                            sender_role=SenderRole.SYSTEM,
                            channel=MessageChannel.AUTOMATED,
                            body=text.text,
                            client_id=f"bare:{row.pk}:{row.seq}",
                            sms_purpose=OutboxPurpose.AUTOMATED,
                            sms_expires_at=expires,
                        )
                        continue
                    record = SendRecord.objects.create(
                        pending_send=row,
                        seq=row.seq,
                        slot_date=row.slot_date,
                        slot_index=row.slot_index,
                        due_at=row.due_at,
                        outcome=SendOutcome.SENT,
                        library_message=text,
                        handled_at=now,
                    )
                    queue_sms(
                        participant=participant,
                        purpose=OutboxPurpose.AUTOMATED,
                        template=OutboxTemplate.SCHEDULED,
                        scheduled_send=record,
                        programme_id=enrolment.programme_id,
                        language=participant.language,
                        expires_at=expires,
                        status=OutboxStatus.PENDING,
                        delivery_status=DeliveryStatus.PENDING,
                    )


def outbox_of(pks: list[int]) -> dict[str, int]:
    """The outbox rows written for these pending rows' sends, by status."""
    enrolments = PendingSend.objects.filter(pk__in=pks).values("enrolment__participant_id")
    return dict(
        Counter(
            SmsOutbox.objects.filter(participant_id__in=enrolments).values_list("status", flat=True)
        )
    )


def sent_count() -> int:
    """Outbox rows sent so far. The bench's database holds only the bench's texts, so the
    whole table is counted: cheaper than any filter over a run's people, and polled."""
    return SmsOutbox.objects.filter(status=OutboxStatus.SENT).count()


def wait_until_sent(total: int, timeout: float = 600) -> None:
    """Until `total` outbox rows are sent (by the Celery worker). Polled every 50 ms, with
    one cheap count: under 1% of a run of several seconds, and little CPU taken from the
    processes measured."""
    deadline = time.monotonic() + timeout
    while sent_count() < total:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the Celery worker did not reach {total} sent texts in {timeout:.0f} s"
            )
        time.sleep(0.05)


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) of another process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def celery_worker() -> Iterator[subprocess.Popen[bytes]]:
    """One Celery worker, as deploy/Procfile runs it (the prefork pool, a child per core),
    on this process's settings and broker; what earlier modes left on the broker is
    purged first, so that it sends only this mode's texts."""
    celery_app.control.purge()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "peerlink",
                "worker",
                "--loglevel",
                "WARNING",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if "Traceback" in text or "ERROR" in text:
        log(f"the Celery worker logged:\n{text[-3000:]}")


def dispatch_with_worker(parts: dict[str, list[int]], now: dt.datetime) -> dict[str, Any]:
    """Mode `workers`: the bare writes, then the dispatcher, in this process, each timed
    until the Celery worker has sent all their texts."""
    result: dict[str, Any] = {"bare": {}, "ours": {}}
    celery_app.conf.task_always_eager = False
    with celery_worker() as worker:
        # The warm-ups also wait for the worker to start.
        bare_sends(parts["warm_bare"], now)
        make_due(parts["warm"], now)
        dispatch_due(now=now)
        sent = sent_count() + len(parts["warm_bare"]) + len(parts["warm"])
        wait_until_sent(sent)

        cpu = worker_cpu(worker.pid)
        with timed(result["bare"]):
            bare_sends(parts["bare"], now)
            wait_until_sent(sent + len(parts["bare"]))
        result["bare"]["worker_cpu_seconds"] = worker_cpu(worker.pid) - cpu

        make_due(parts["ours"], now)
        sent = sent_count()
        cpu = worker_cpu(worker.pid)
        with timed(result["ours"]):
            outcome = dispatch_due(now=now)
            wait_until_sent(sent + len(parts["ours"]))
        result["ours"]["worker_cpu_seconds"] = worker_cpu(worker.pid) - cpu
    for part in ("bare", "ours"):
        per(result[part], len(parts[part]))
    result["ours"]["outcomes"] = dict(outcome.outcomes)
    return result


def worker_cpu(pid: int) -> float:
    """The Celery worker's CPU seconds so far: its main process and its pool's children."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(child) for child in children.read_text().split())]
    return sum(process_cpu(each) for each in pids)


def dispatch(world: schedbench_world.World, job: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime.fromisoformat(job["now"])
    rng = random.Random(job["seed"] + 1)
    pool = list(
        PendingSend.objects.filter(state=SendState.SCHEDULED, stream=Stream.SUPPORTIVE)
        .order_by()
        .values_list("pk", flat=True)
    )
    taken: set[int] = set()
    count, warm = job["dispatch_sample"], job["dispatch_warm"]
    plan = {
        mode: {
            part: pick_rows(n, taken, rng, pool)
            for part, n in (("warm_bare", warm), ("warm", warm), ("bare", count), ("ours", count))
        }
        for mode in job["modes"]
    }
    everyone = [pk for parts in plan.values() for pks in parts.values() for pk in pks]
    schedbench_world.real_ciphertext(
        list(
            PendingSend.objects.filter(pk__in=everyone).values_list(
                "enrolment__participant_id", flat=True
            )
        )
    )
    out: dict[str, Any] = {}
    for mode, parts in plan.items():
        log(f"dispatch ({mode}): warm-up, then {count:,} bare sends, then {count:,} dispatched")
        result: dict[str, Any]
        if mode == "workers":
            result = dispatch_with_worker(parts, now)
        else:
            celery_app.conf.task_always_eager = mode == "send"
            result = {}
            bare_sends(parts["warm_bare"], now)
            make_due(parts["warm"], now)
            dispatch_due(now=now)
            with timed(result.setdefault("bare", {})):
                bare_sends(parts["bare"], now)
            per(result["bare"], count)
            make_due(parts["ours"], now)
            with timed(result.setdefault("ours", {})):
                outcome = dispatch_due(now=now)
            per(result["ours"], count)
            result["ours"]["outcomes"] = dict(outcome.outcomes)
        result["ours"]["outbox"] = outbox_of(parts["ours"])
        result["bare"]["outbox"] = outbox_of(parts["bare"])
        result["ours"]["records_sent"] = SendRecord.objects.filter(
            pending_send_id__in=parts["ours"], outcome=SendOutcome.SENT
        ).count()
        result["ours"]["with_conversation"] = Conversation.objects.filter(
            enrolment__pending_sends__pk__in=parts["ours"]
        ).count()
        result["ours"]["still_due"] = PendingSend.objects.filter(
            state=SendState.SCHEDULED, due_at__lte=now
        ).count()
        out[mode] = result
    celery_app.conf.task_always_eager = False
    return out


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    now = dt.datetime.fromisoformat(job["now"])
    result: dict[str, Any] = {"size": job["size"]}
    log(f"seeding {job['size']:,} enrolments")
    seed_started = time.perf_counter()
    world = schedbench_world.seed(job["size"], now)
    result["seed_seconds"] = time.perf_counter() - seed_started
    result["planning"] = planning(world, job)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE scheduling_pendingsend")
    result["dispatch"] = dispatch(world, job)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        result["database_bytes"] = cursor.fetchone()[0]
    print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
