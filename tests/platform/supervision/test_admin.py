"""The Django admin for supervision: checklists editable until used, then frozen (a new
version instead); sessions listed without their notes; each admin sees their programmes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from audit.models import AuditEntry
from people.models import User
from programmes.models import Role
from supervision.models import FidelityChecklist, SupervisionSession
from supervision.services import ItemSpec, create_checklist, record_fidelity_check
from tests.platform.supervision.helpers import full_scores
from tests.support.factories import World, make_programme, make_staff

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., SupervisionSession]
CHECKLISTS = "/admin/supervision/fidelitychecklist/"


def _superuser_client(world: World) -> Client:
    world.admin.is_staff = True
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(world.admin)
    return client


def _use(world: World, checklist: FidelityChecklist, make_session: MakeSession) -> None:
    record_fidelity_check(
        session=make_session(),
        peer_supporter_id=world.peer.id,
        checklist_id=checklist.pk,
        scores=full_scores(),
        recorded_by=world.supervisor,
    )


def test_sessions_are_listed_and_shown_without_their_notes(
    world: World, make_session: MakeSession
) -> None:
    marker = "Axolotl-" + uuid.uuid4().hex
    session = make_session(notes=marker)
    client = _superuser_client(world)
    listing = client.get("/admin/supervision/supervisionsession/")
    page = client.get(f"/admin/supervision/supervisionsession/{session.pk}/change/")
    assert (listing.status_code, page.status_code) == (200, 200)
    for html in (listing.content.decode(), page.content.decode()):
        assert marker not in html
        assert "notes" not in html.lower()


def test_sessions_cannot_be_added_or_changed_in_the_admin(
    world: World, make_session: MakeSession
) -> None:
    client = _superuser_client(world)
    assert client.get("/admin/supervision/supervisionsession/add/").status_code == 403
    session = make_session()
    response = client.post(
        f"/admin/supervision/supervisionsession/{session.pk}/change/", {"duration_minutes": 1}
    )
    assert response.status_code == 403
    assert SupervisionSession.objects.get().duration_minutes == 50


def test_an_unused_checklist_has_editable_items(world: World, checklist: FidelityChecklist) -> None:
    html = _superuser_client(world).get(f"{CHECKLISTS}{checklist.pk}/change/").content.decode()
    assert 'name="items-0-key"' in html


def test_a_used_checklist_is_frozen_in_the_admin(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    _use(world, checklist, make_session)
    client = _superuser_client(world)
    html = client.get(f"{CHECKLISTS}{checklist.pk}/change/").content.decode()
    assert 'name="items-0-key"' not in html
    assert 'name="active"' not in html
    assert client.get(f"{CHECKLISTS}{checklist.pk}/delete/").status_code == 403


def test_the_new_version_action_makes_an_editable_copy(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    _use(world, checklist, make_session)
    response = _superuser_client(world).post(
        CHECKLISTS, {"action": "make_new_version", "_selected_action": [checklist.pk]}
    )
    assert response.status_code == 302
    new = FidelityChecklist.objects.get(version=2)
    checklist.refresh_from_db()
    assert (new.active, checklist.active) == (True, False)
    assert list(new.items.values_list("key", flat=True)) == ["listening", "boundaries", "hope"]


def test_adding_a_checklist_in_the_admin_is_audited(world: World) -> None:
    response = _superuser_client(world).post(
        f"{CHECKLISTS}add/",
        {
            "programme": world.programme.pk,
            "name": "Reflective practice",
            "version": 1,
            "active": "on",
            "items-TOTAL_FORMS": 1,
            "items-INITIAL_FORMS": 0,
            "items-MIN_NUM_FORMS": 0,
            "items-MAX_NUM_FORMS": 1000,
            "items-0-position": 1,
            "items-0-key": "goals",
            "items-0-text": "Set goals together",
            "items-0-scale_max": 2,
        },
    )
    assert response.status_code == 302, response.content[:500]
    checklist = FidelityChecklist.objects.get(name="Reflective practice")
    entry = AuditEntry.objects.get(action="fidelity_checklist.created")
    assert (entry.actor_id, entry.target_id) == (world.admin.id, str(checklist.pk))
    assert entry.details["items"] == 1


def test_the_admin_refuses_an_item_scale_out_of_range(world: World) -> None:
    response = _superuser_client(world).post(
        f"{CHECKLISTS}add/",
        {
            "programme": world.programme.pk,
            "name": "Reflective practice",
            "version": 1,
            "items-TOTAL_FORMS": 1,
            "items-INITIAL_FORMS": 0,
            "items-MIN_NUM_FORMS": 0,
            "items-MAX_NUM_FORMS": 1000,
            "items-0-position": 1,
            "items-0-key": "goals",
            "items-0-text": "Set goals together",
            "items-0-scale_max": 11,
        },
    )
    assert response.status_code == 200
    assert not FidelityChecklist.objects.exists()


def _programme_admin_client(user: User) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    for codename in ("view_fidelitychecklist", "change_fidelitychecklist"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_a_programme_admin_sees_only_their_programmes_checklists(
    world: World, checklist: FidelityChecklist
) -> None:
    elsewhere = make_programme("elsewhere")
    outsider = make_staff(elsewhere, Role.ADMIN)
    theirs = create_checklist(
        programme=elsewhere,
        name="Their practice",
        items=[ItemSpec("a", "An item", 2)],
        created_by=outsider,
    )
    html = _programme_admin_client(world.admin).get(CHECKLISTS).content.decode()
    assert f"{CHECKLISTS}{checklist.pk}/change/" in html
    assert f"{CHECKLISTS}{theirs.pk}/change/" not in html
    response = _programme_admin_client(world.admin).get(f"{CHECKLISTS}{theirs.pk}/change/")
    assert response.status_code in (302, 404)


def test_checklist_admin_pages_answer(world: World, checklist: FidelityChecklist) -> None:
    client: Any = _superuser_client(world)
    for url in (
        CHECKLISTS,
        f"{CHECKLISTS}add/",
        "/admin/supervision/fidelitycheck/",
        "/admin/supervision/trainingrecord/",
    ):
        assert client.get(url).status_code == 200, url
