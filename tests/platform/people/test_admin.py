from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from people.models import Participant
from people.selectors import participant_profile
from programmes.models import Role
from tests.support.factories import World, make_staff

pytestmark = pytest.mark.django_db


def _admin_client(user) -> Client:  # type: ignore[no-untyped-def]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def test_programme_admin_sees_the_decrypted_profile_and_the_view_is_audited(world: World) -> None:
    participant = world.own.participant
    profile = participant_profile(participant)
    client = _admin_client(world.admin)
    client.user = world.admin  # type: ignore[attr-defined]
    # Admin role alone (not superuser) is enough.
    assert not world.admin.is_superuser
    from django.contrib.auth.models import Permission

    world.admin.user_permissions.add(Permission.objects.get(codename="view_participant"))
    response = client.get(f"/admin/people/participant/{participant.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert profile.name in html
    assert profile.phone in html
    entry = AuditEntry.objects.get(action="participant.viewed")
    assert entry.actor_id == world.admin.id
    assert entry.details == {"participant": str(participant.pk), "via": "admin", "decrypted": True}


def test_staff_without_the_admin_role_see_no_name_and_a_masked_phone(world: World) -> None:
    from django.contrib.auth.models import Permission

    participant = world.own.participant
    profile = participant_profile(participant)
    client = _admin_client(world.supervisor)
    world.supervisor.user_permissions.add(Permission.objects.get(codename="view_participant"))
    response = client.get(f"/admin/people/participant/{participant.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert profile.name not in html
    assert profile.phone not in html
    assert "(hidden)" in html
    assert AuditEntry.objects.get(action="participant.viewed").details["decrypted"] is False


def test_the_participant_list_shows_no_names(world: World) -> None:
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_superuser"])
    client = _admin_client(world.admin)
    response = client.get("/admin/people/participant/")
    assert response.status_code == 200
    for participant in Participant.objects.all():
        assert participant_profile(participant).name not in response.content.decode()


def test_adding_a_participant_in_the_admin_encrypts_through_the_service(world: World) -> None:
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_superuser"])
    client = _admin_client(world.admin)
    response = client.post(
        "/admin/people/participant/add/",
        {
            "name": "Admin Added",
            "phone": "+1 780 555 0177",
            "language": "en",
            "time_zone": "America/Edmonton",
            "preferred_channel": "sms",
            "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00",
        },
    )
    assert response.status_code == 302, response.content[:500]
    created = Participant.objects.order_by("-created_at").first()
    assert created is not None
    assert participant_profile(created).phone == "+17805550177"
    assert b"Admin Added" not in bytes(created.name_ciphertext)


def test_enrolments_are_read_only_in_the_admin(world: World) -> None:
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_superuser"])
    client = _admin_client(world.admin)
    response = client.get(f"/admin/programmes/enrolment/{world.own.pk}/change/")
    assert response.status_code == 200
    assert 'name="track"' not in response.content.decode()
    assert client.get("/admin/programmes/enrolment/add/").status_code == 403


def test_make_staff_helper_gives_the_role(world: World) -> None:
    user = make_staff(world.programme, Role.EVALUATOR)
    assert user.staff_roles.get().role == Role.EVALUATOR
