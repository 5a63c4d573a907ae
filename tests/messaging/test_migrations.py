"""Upgrading a database that already holds SMS outbox rows (written before the outbox named
its recipient and tracked delivery): every row gets its recipient, sent rows show as sent and
skipped ones as not sent, and a text still pending from before the upgrade is given up on,
not sent at whatever hour the upgrade runs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("messaging", "0001_initial"),
    ("programmes", "0001_initial"),
    ("people", "0002_initial"),
    ("encryption", "0001_initial"),
]
AFTER = [("messaging", "0003_outbox_one_recipient")]


@pytest.fixture
def migrated_back() -> Iterator[Any]:
    """The apps as they were before the SMS channel, and a way to migrate forward."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps

    def forward() -> Any:
        executor.loader.build_graph()
        executor.migrate(AFTER)
        return executor.loader.project_state(AFTER).apps

    yield old_apps, forward
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _old_outbox_rows(apps: Any) -> dict[str, tuple[int, str]]:
    """One conversation (with the old apps) and outbox rows in each old state."""
    key = apps.get_model("encryption", "DataKey").objects.create(
        purpose="conversation", kek_version=1, wrapped_key=b"k"
    )
    organisation = apps.get_model("programmes", "Organisation").objects.create(slug="o", name="O")
    programme = apps.get_model("programmes", "Programme").objects.create(
        organisation=organisation, slug="p", name="P", time_zone="UTC", data_key=key
    )
    site = apps.get_model("programmes", "Site").objects.create(programme=programme, code="s")
    arm = apps.get_model("programmes", "Arm").objects.create(
        programme=programme, code="a", name="A", peer_support=True
    )
    user = apps.get_model("people", "User").objects.create(username="p-1")
    participant = apps.get_model("people", "Participant").objects.create(
        user=user, data_key=key, phone_index="i" * 64, time_zone="UTC"
    )
    enrolment = apps.get_model("programmes", "Enrolment").objects.create(
        participant=participant,
        programme=programme,
        site=site,
        arm=arm,
        enrolled_at=timezone.now(),
        stratum="s",
        allocation_number=1,
    )
    conversation = apps.get_model("messaging", "Conversation").objects.create(
        enrolment=enrolment, data_key=key
    )
    rows = {}
    for seq, (status, channel, age) in enumerate(
        [
            ("sent", "web", 0),
            ("skipped", "web", 0),
            ("failed", "web", 0),
            ("pending", "automated", 3 * 24),  # an old failure: the old task rolled back
            ("pending", "web", 0),  # written just now: still worth sending
        ],
        start=1,
    ):
        message = apps.get_model("messaging", "Message").objects.create(
            id=uuid.uuid4(),
            conversation=conversation,
            seq=seq,
            sender_role="peer_supporter",
            channel=channel,
            body_ciphertext=b"x",
            client_id=f"c{seq}",
            created_at=timezone.now(),
        )
        outbox = apps.get_model("messaging", "SmsOutbox").objects.create(
            message=message, status=status
        )
        apps.get_model("messaging", "SmsOutbox").objects.filter(pk=outbox.pk).update(
            created_at=timezone.now() - dt.timedelta(hours=age)
        )
        rows[f"{status}-{channel}-{age}"] = (outbox.pk, str(participant.pk))
    return rows


def test_existing_outbox_rows_get_a_recipient_and_their_delivery_state(migrated_back: Any) -> None:
    old_apps, forward = migrated_back
    rows = _old_outbox_rows(old_apps)
    new_apps = forward()
    outbox = new_apps.get_model("messaging", "SmsOutbox")
    state = {
        name: outbox.objects.values_list(
            "status", "delivery_status", "purpose", "participant_id"
        ).get(pk=pk)
        for name, (pk, _) in rows.items()
    }
    participant = uuid.UUID(next(iter(rows.values()))[1])
    assert state == {
        "sent-web-0": ("sent", "sent", "chat", participant),
        "skipped-web-0": ("skipped", "not_sent", "chat", participant),
        "failed-web-0": ("failed", "failed", "chat", participant),
        "pending-automated-72": ("failed", "failed", "automated", participant),
        "pending-web-0": ("pending", "pending", "chat", participant),
    }
