"""Shared set-up for the export tests: the demo programme with answered surveys and chat,
exported as an evaluator would; and readers of what an export wrote."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import time_machine
from django.core.management import call_command
from django.test import Client

from outcomes.demo import DEMO_SURVEY_PHONE
from outcomes.export.services import ExportResult, export_programme
from people.models import User
from programmes.models import Programme
from tests.outcomes.test_demo_surveys import (
    GAD7_ANSWERS,
    SEEDED,
    answer_phq9_by_sms,
    web_link_path,
)
from tests.scheduling.texts import utc
from tests.support.sms import inbound

EXPORTED = utc("2027-02-03T18:00")  # three weeks later
# What Morgan texts their peer supporter after the survey: identifying, as people do.
MORGAN_CHAT = "it's Morgan again, my other number is 780 555 0199, mum's is 403 555 0142"


def answered_demo(client: Client) -> Programme:
    """seed_demo, then Morgan answers the PHQ-9 by SMS and the GAD-7 on the web, and texts
    their peer supporter."""
    out = io.StringIO()
    with time_machine.travel(SEEDED, tick=False):
        call_command("seed_demo", stdout=out)
    answer_phq9_by_sms(client)
    path = web_link_path(out.getvalue())
    with time_machine.travel(SEEDED + dt.timedelta(minutes=30), tick=False):
        assert client.get(path).status_code == 200
        assert client.post(path, {**GAD7_ANSWERS, "action": "submit"}).status_code == 200
    with time_machine.travel(SEEDED + dt.timedelta(days=2), tick=False):
        assert inbound(client, sender=DEMO_SURVEY_PHONE, body=MORGAN_CHAT).status_code == 200
    return Programme.objects.get(slug="demo")


def export_demo(programme: Programme, out_dir: Path, **options: Any) -> ExportResult:
    with time_machine.travel(EXPORTED, tick=False):
        return export_programme(
            programme=programme,
            out_dir=out_dir,
            requested_by=User.objects.get(username="demo-evaluator"),
            **options,
        )


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def package(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
