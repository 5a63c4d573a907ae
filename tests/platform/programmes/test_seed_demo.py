from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from messaging.models import Conversation, Message
from programmes.models import Enrolment, Programme

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_demo_programme_and_prints_the_logins() -> None:
    output = _seed()
    assert Programme.objects.filter(slug="demo").exists()
    assert Enrolment.objects.count() == 8
    for username in ("demo-admin", "demo-supervisor", "demo-peer1", "demo-peer2", "demo-evaluator"):
        assert username in output
    assert "peerlink-demo" in output


def test_seed_demo_records_varied_age_bands_and_genders() -> None:
    _seed()
    enrolments = Enrolment.objects.filter(programme__slug="demo")
    assert len(set(enrolments.values_list("age_band", flat=True))) > 1
    assert len(set(enrolments.values_list("gender", flat=True))) > 1


def test_seed_demo_is_safe_to_run_twice() -> None:
    _seed()
    counts = (Enrolment.objects.count(), Conversation.objects.count(), Message.objects.count())
    assert "already present" in _seed()
    assert (
        Enrolment.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
    ) == counts


def test_every_demo_conversation_has_an_opening_exchange() -> None:
    _seed()
    for conversation in Conversation.objects.all():
        assert list(
            conversation.messages.order_by("seq").values_list("sender_role", flat=True)
        ) == [
            "peer_supporter",
            "participant",
        ]


def test_the_printed_demo_login_works() -> None:
    _seed()
    response = Client().post(
        "/api/v1/auth/login/",
        {"username": "demo-peer1", "password": "peerlink-demo"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["roles"] == [{"programme": "demo", "role": "peer_supporter"}]


def test_the_demo_supervisor_is_on_call_with_an_escalation_phone() -> None:
    from people.models import User
    from staffing.availability import on_call_at_level
    from staffing.services import staff_phone

    _seed()
    supervisor = User.objects.get(username="demo-supervisor")
    assert on_call_at_level(Programme.objects.get(slug="demo"), 1) == [supervisor]
    assert staff_phone(supervisor.pk) is not None


def test_the_demo_peer_supporters_work_in_the_programmes_time_zone() -> None:
    from programmes.models import PeerSupporterProfile

    _seed()
    profiles = PeerSupporterProfile.objects.filter(user__username__startswith="demo-peer")
    assert {p.time_zone for p in profiles} == {"America/Edmonton"}
    peer2 = profiles.get(user__username="demo-peer2")
    assert sorted(peer2.working_hours) == ["fri", "mon", "thu", "tue", "wed"]


def test_seed_demo_prints_the_web_client_and_a_service_user_with_a_peer_supporter() -> None:
    from people.selectors import participant_profile

    output = _seed()

    assert "open https://peerlink.test/staff/signin/" in output
    with_peer = {
        participant_profile(e.participant).phone
        for e in Enrolment.objects.filter(conversation__isnull=False)
    }
    printed = [line for line in output.splitlines() if "service user: open" in line]
    assert len(printed) == (1 if with_peer else 0)
    if with_peer:
        assert "https://peerlink.test/signin/" in printed[0]
        assert any(phone in printed[0] for phone in with_peer)
