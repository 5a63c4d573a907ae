"""The inbound SMS benchmark's world, written through the real services into the bench database.

    python smsbench_world.py setup N PEERS OUT.json   N service users on SMS (with SMS consent),
                                                      each with a conversation, spread over
                                                      PEERS peer supporters
    python smsbench_world.py tickets IN.json K        a fresh single-use WebSocket ticket for
                                                      the first K peer supporters (JSON to
                                                      stdout)

Runs with the bench server's settings (bench/smsbench/smsbench_settings.py). The fictional
phone numbers go only into OUT.json (in the bench's temporary folder), for the load generator.
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
from programmes.models import HandoffReason, Role  # noqa: E402
from tests.support.factories import enrol, make_programme, make_staff  # noqa: E402

# One arm, with peer support: every enrolment gets a conversation (as tests/e2e/e2e_world.py).
PEER_SUPPORT_ONLY = (services.ArmSpec("peer_support", "Peer support", True, False, False),)
# Canadian area codes with the 555-01XX fiction range: 100 numbers each.
AREA_CODES = ("204", "226", "236", "249", "250", "289", "306", "343", "365", "403")


def phone(n: int) -> str:
    return f"+1{AREA_CODES[n // 100]}55501{n % 100:02d}"


def setup(participants: int, peers: int, out: Path) -> None:
    if participants > 100 * len(AREA_CODES):
        raise SystemExit(f"at most {100 * len(AREA_CODES)} participants")
    programme = make_programme("sms-bench", arms=PEER_SUPPORT_ONLY)
    admin = make_staff(programme, Role.ADMIN, "sms-bench-admin")
    staff = [
        make_staff(programme, Role.PEER_SUPPORTER, f"sms-bench-peer-{p}") for p in range(peers)
    ]
    people = []
    for n in range(participants):
        peer = staff[n % peers]
        with transaction.atomic():
            enrolment = enrol(
                programme,
                by=admin,
                name=f"Bench Texter {n}",
                channel=Channel.SMS,
                phone=phone(n),
                sms_consent=True,
            )
            services.assign_peer_supporter(
                enrolment=enrolment,
                peer_supporter=peer,
                assigned_by=admin,
                reason=HandoffReason.INITIAL,
            )
            conversation = Conversation.objects.get(enrolment=enrolment)
        people.append({"phone": phone(n), "peer": peer.pk, "conversation": str(conversation.pk)})
    out.write_text(json.dumps({"participants": people, "peers": [p.pk for p in staff]}))


def tickets(source: Path, count: int) -> dict[str, str]:
    peers = json.loads(source.read_text())["peers"][:count]
    users = User.objects.in_bulk(peers)
    return {str(pk): issue_ws_ticket(user=users[pk]) for pk in peers}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        setup(int(args[0]), int(args[1]), Path(args[2]))
    else:
        print(json.dumps(tickets(Path(args[0]), int(args[1]))))
