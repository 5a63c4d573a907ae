"""The chat benchmark's world, written through the real services into the bench database.

    python chatbench_world.py setup N OUT.json   N conversations: a web service user and their
                                                 own peer supporter each
    python chatbench_world.py tickets IN.json    a fresh single-use WebSocket ticket for both
                                                 members of every conversation (JSON to stdout)

Runs with the bench server's settings (bench/chatbench/chatbench_settings.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from access.services import issue_ws_ticket  # noqa: E402
from messaging.models import Conversation  # noqa: E402
from people.models import Channel, User  # noqa: E402
from programmes import services  # noqa: E402
from programmes.models import HandoffReason, Organisation, Role, Site  # noqa: E402
from staffing.services import set_working_hours  # noqa: E402
from tests.support.factories import ALWAYS_ON_DUTY  # noqa: E402

# Canadian area codes: with the 555-01XX fiction range, 100 numbers each.
AREA_CODES = (  # noqa: SIM905
    "204 226 236 249 250 289 306 343 365 403 416 418 431 437 438 450 506 514 519 548 "
    "579 581 587 604 613 639 647 705 709 778 780 782 807 819 825 867 873 902 905"
).split()

# One arm with peer support, so that every enrolment gets a conversation.
ARMS = (services.ArmSpec("peer_support", "Peer support", True, False, False),)


def setup(conversations: int, out: Path) -> None:
    organisation, _ = Organisation.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    programme = services.create_programme(
        organisation=organisation,
        slug="bench",
        name="Benchmark programme",
        time_zone="America/Edmonton",
        arms=ARMS,
        sites=[("main", "Main")],
    )
    site = Site.objects.get(programme=programme, code="main")
    admin = User.objects.create_user(username="bench-admin", password=None)
    services.grant_role(user=admin, programme=programme, role=Role.ADMIN)
    pairs = []
    for n in range(conversations):
        with transaction.atomic():
            peer = User.objects.create_user(
                username=f"bench-peer-{n}", password=None, first_name=f"Peer {n}"
            )
            services.grant_role(user=peer, programme=programme, role=Role.PEER_SUPPORTER)
            # On duty around the clock: the benchmark measures the chat path, not away replies.
            set_working_hours(
                user=peer, working_hours=ALWAYS_ON_DUTY, time_zone="UTC", changed_by=None
            )
            enrolment = services.enrol_participant(
                programme=programme,
                site=site,
                name=f"Bench Person {n}",
                phone=f"+1{AREA_CODES[n // 100]}55501{n % 100:02d}",
                language="en",
                time_zone="America/Edmonton",
                enrolled_by=admin,
                preferred_channel=Channel.WEB,
            )
            services.assign_peer_supporter(
                enrolment=enrolment,
                peer_supporter=peer,
                assigned_by=admin,
                reason=HandoffReason.INITIAL,
            )
            conversation = Conversation.objects.get(enrolment=enrolment)
        pairs.append(
            {
                "conversation": str(conversation.pk),
                "peer": peer.pk,
                "participant": enrolment.participant.user_id,
            }
        )
    out.write_text(json.dumps(pairs))


def tickets(source: Path) -> list[dict[str, str]]:
    pairs = json.loads(source.read_text())
    users = User.objects.in_bulk([p["peer"] for p in pairs] + [p["participant"] for p in pairs])
    return [
        {
            "conversation": p["conversation"],
            "peer": issue_ws_ticket(user=users[p["peer"]]),
            "participant": issue_ws_ticket(user=users[p["participant"]]),
        }
        for p in pairs
    ]


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        setup(int(args[0]), Path(args[1]))
    else:
        print(json.dumps(tickets(Path(args[0]))))
