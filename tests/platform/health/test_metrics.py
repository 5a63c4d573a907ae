"""/metrics: Prometheus text format, with the enrolment gauge read at scrape time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from django.db import DatabaseError
from django.test import Client
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from encryption.models import DataKeyPurpose
from encryption.services import create_data_key
from health.metrics import REGISTRY, EnrolmentCollector
from people.models import Participant, User
from programmes.models import Arm, Enrolment, EnrolmentStatus, Organisation, Programme, Site

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(client: Client) -> Samples:
    """Sample name -> {sorted label pairs: value}, as Prometheus reads the response."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def enrolled(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["status"]: value
        for labels, value in samples["peerlink_participants_enrolled"].items()
    }


def broken_query(*args: object, **kwargs: object) -> None:
    raise DatabaseError("connection to server at db.internal failed")


@pytest.fixture
def make_enrolment(db: None) -> Callable[[str], Enrolment]:
    """Enrolments built straight from the models: the gauge only counts rows. The encrypted
    fields hold placeholder bytes, never a name or number."""
    organisation = Organisation.objects.create(slug="org", name="Org")
    programme = Programme.objects.create(
        organisation=organisation,
        slug="metrics",
        name="Metrics",
        time_zone="America/Edmonton",
        data_key=create_data_key(purpose=DataKeyPurpose.PROGRAMME),
    )
    site = Site.objects.create(programme=programme, code="north", name="North")
    arm = Arm.objects.create(programme=programme, code="peer", name="Peer support")
    numbers = iter(range(1, 1000))

    def make(status: str) -> Enrolment:
        handle = uuid.uuid4().hex
        participant = Participant.objects.create(
            user=User.objects.create(username=f"p-{handle[:16]}"),
            data_key=create_data_key(purpose=DataKeyPurpose.PERSON),
            name_ciphertext=b"placeholder",
            phone_ciphertext=b"placeholder",
            phone_index=handle,
            time_zone="America/Edmonton",
        )
        return Enrolment.objects.create(
            participant=participant,
            programme=programme,
            site=site,
            arm=arm,
            enrolled_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
            status=status,
            stratum="north",
            allocation_number=next(numbers),
        )

    return make


def test_metrics_are_served_in_the_prometheus_text_format(client: Client, db: None) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"peerlink_participants_enrolled", "peerlink_http_ready_checks"} <= names


def test_enrolment_gauge_reports_every_status_at_zero_when_empty(client: Client, db: None) -> None:
    assert enrolled(scrape(client)) == {status: 0.0 for status in EnrolmentStatus.values}


def test_enrolment_gauge_counts_enrolments_by_status(
    client: Client, make_enrolment: Callable[[str], Enrolment]
) -> None:
    for status in ["active", "active", "active", "paused", "withdrawn"]:
        make_enrolment(status)

    assert enrolled(scrape(client)) == {
        "active": 3.0,
        "paused": 1.0,
        "withdrawn": 1.0,
        "completed": 0.0,
    }


def test_ready_check_counters_exist_before_any_check_runs(client: Client, db: None) -> None:
    counters = scrape(client)["peerlink_http_ready_checks_total"]

    pairs = {(dict(labels)["check"], dict(labels)["outcome"]) for labels in counters}
    assert pairs >= {
        (check, outcome)
        for check in ("database", "channel_layer", "broker")
        for outcome in ("ok", "failed")
    }


def test_metrics_are_still_served_when_the_enrolment_count_fails(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Enrolment.objects, "order_by", broken_query)

    samples = scrape(client)

    assert "process_start_time_seconds" in samples
    assert "peerlink_participants_enrolled" not in samples


def test_failed_enrolment_count_is_counted(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = (("collector", "enrolments"),)
    before = scrape(client)["peerlink_metrics_collector_errors_total"][labels]
    monkeypatch.setattr(Enrolment.objects, "order_by", broken_query)

    scrape(client)

    # A scrape shows the counter before its own collectors ran: the next one shows the error.
    assert scrape(client)["peerlink_metrics_collector_errors_total"][labels] >= before + 1


def test_enrolment_collector_registers_without_touching_the_database() -> None:
    # No database fixture: any query here fails the test. Registering runs describe(), not
    # collect(), so importing health.metrics never queries the database.
    registry = CollectorRegistry(auto_describe=True)

    registry.register(EnrolmentCollector())


def test_project_registry_is_not_the_global_one() -> None:
    from prometheus_client import REGISTRY as GLOBAL

    assert REGISTRY is not GLOBAL
