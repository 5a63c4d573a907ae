"""Fidelity checklists: configured by programme admins, versioned so that a version any check
has used never changes under its scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from audit.models import AuditEntry
from peerlink.errors import Conflict, DomainError
from supervision.models import FidelityChecklist, FidelityItem, SupervisionSession
from supervision.services import (
    ItemSpec,
    create_checklist,
    new_checklist_version,
    record_fidelity_check,
    revise_checklist,
    set_checklist_active,
)
from tests.platform.supervision.helpers import full_scores
from tests.support.factories import World

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., SupervisionSession]
TWO_ITEMS = [ItemSpec("warmth", "Was warm", 2), ItemSpec("safety", "Checked safety", 4)]


def _use(checklist: FidelityChecklist, world: World, make_session: MakeSession) -> None:
    record_fidelity_check(
        session=make_session(),
        peer_supporter_id=world.peer.id,
        checklist_id=checklist.pk,
        scores=full_scores(),
        recorded_by=world.supervisor,
    )


def _items(checklist: FidelityChecklist) -> list[tuple[int, str, int]]:
    return list(
        FidelityItem.objects.filter(checklist=checklist)
        .order_by("position")
        .values_list("position", "key", "scale_max")
    )


def test_an_admin_creates_a_checklist_with_ordered_items(world: World) -> None:
    checklist = create_checklist(
        programme=world.programme, name="  Core  ", items=TWO_ITEMS, created_by=world.admin
    )
    assert (checklist.name, checklist.version, checklist.active) == ("Core", 1, True)
    assert _items(checklist) == [(1, "warmth", 2), (2, "safety", 4)]
    assert checklist.max_total == 6


def test_items_may_be_given_as_mappings(world: World) -> None:
    checklist = create_checklist(
        programme=world.programme,
        name="Core",
        items=[{"key": "warmth", "text": "Was warm", "scale_max": 2}],
        created_by=world.admin,
    )
    assert _items(checklist) == [(1, "warmth", 2)]


def test_creating_a_checklist_is_audited(world: World) -> None:
    checklist = create_checklist(
        programme=world.programme, name="Core", items=TWO_ITEMS, created_by=world.admin
    )
    entry = AuditEntry.objects.get(action="fidelity_checklist.created")
    assert (entry.actor_id, entry.target_id, entry.details) == (
        world.admin.id,
        str(checklist.pk),
        {"programme": world.programme.slug, "version": 1, "items": 2},
    )


@pytest.mark.parametrize("who", ["supervisor", "peer", "evaluator"])
def test_only_programme_admins_configure_checklists(world: World, who: str) -> None:
    with pytest.raises(DomainError) as refused:
        create_checklist(
            programme=world.programme, name="Core", items=TWO_ITEMS, created_by=getattr(world, who)
        )
    assert (refused.value.code, refused.value.http_status) == ("forbidden", 403)
    assert not FidelityChecklist.objects.exists()


def test_a_second_checklist_of_the_same_name_is_a_conflict(world: World) -> None:
    create_checklist(
        programme=world.programme, name="Core", items=TWO_ITEMS, created_by=world.admin
    )
    with pytest.raises(Conflict) as refused:
        create_checklist(
            programme=world.programme, name="Core", items=TWO_ITEMS, created_by=world.admin
        )
    assert refused.value.code == "checklist_exists"
    assert FidelityChecklist.objects.count() == 1


BAD_ITEMS: list[tuple[str, Any, str]] = [
    ("no items", [], "no_items"),
    ("items not a list", "warmth", "no_items"),
    ("an item that is not an object", ["warmth"], "invalid_item"),
    ("a key with capitals", [ItemSpec("Warmth", "Was warm", 2)], "invalid_item_key"),
    ("a key with spaces", [ItemSpec("was warm", "Was warm", 2)], "invalid_item_key"),
    ("an empty key", [ItemSpec("", "Was warm", 2)], "invalid_item_key"),
    ("a key given twice", [ItemSpec("a", "One", 2), ItemSpec("a", "Two", 2)], "duplicate_item_key"),
    ("a blank text", [ItemSpec("a", "   ", 2)], "invalid_item_text"),
    ("a text too long", [ItemSpec("a", "t" * 501, 2)], "invalid_item_text"),
    ("a scale of zero", [ItemSpec("a", "One", 0)], "invalid_scale"),
    ("a scale above ten", [ItemSpec("a", "One", 11)], "invalid_scale"),
    ("a scale as a boolean", [ItemSpec("a", "One", True)], "invalid_scale"),
    ("a scale as text", [{"key": "a", "text": "One", "scale_max": "2"}], "invalid_scale"),
]


@pytest.mark.parametrize(
    ("items", "code"), [(i, c) for _, i, c in BAD_ITEMS], ids=[n for n, _, _ in BAD_ITEMS]
)
def test_bad_items_are_refused_with_their_code_and_write_nothing(
    world: World, items: Any, code: str
) -> None:
    with pytest.raises(DomainError) as refused:
        create_checklist(
            programme=world.programme, name="Core", items=items, created_by=world.admin
        )
    assert refused.value.code == code
    assert not FidelityChecklist.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="fidelity_checklist").exists()


def test_a_checklist_needs_a_name(world: World) -> None:
    with pytest.raises(DomainError) as refused:
        create_checklist(
            programme=world.programme, name=" ", items=TWO_ITEMS, created_by=world.admin
        )
    assert refused.value.code == "invalid_name"


def test_an_unused_checklist_is_revised_in_place(
    world: World, checklist: FidelityChecklist
) -> None:
    revised = revise_checklist(checklist=checklist, items=TWO_ITEMS, revised_by=world.admin)
    assert (revised.pk, revised.version) == (checklist.pk, 1)
    assert _items(revised) == [(1, "warmth", 2), (2, "safety", 4)]


def test_a_used_checklist_is_revised_as_a_new_version(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    _use(checklist, world, make_session)
    before = _items(checklist)
    revised = revise_checklist(checklist=checklist, items=TWO_ITEMS, revised_by=world.admin)
    checklist.refresh_from_db()
    assert revised.pk != checklist.pk
    assert (revised.name, revised.version, revised.active) == (checklist.name, 2, True)
    assert not checklist.active
    assert _items(checklist) == before
    assert _items(revised) == [(1, "warmth", 2), (2, "safety", 4)]


def test_a_new_version_copies_the_items_and_retires_the_old(
    world: World, checklist: FidelityChecklist
) -> None:
    new = new_checklist_version(checklist=checklist, created_by=world.admin)
    checklist.refresh_from_db()
    assert (new.version, new.active, checklist.active) == (2, True, False)
    assert [key for _, key, _ in _items(new)] == ["listening", "boundaries", "hope"]
    assert AuditEntry.objects.filter(action="fidelity_checklist.versioned").count() == 1


def test_activating_an_old_version_retires_the_current_one(
    world: World, checklist: FidelityChecklist
) -> None:
    new = new_checklist_version(checklist=checklist, created_by=world.admin)
    set_checklist_active(checklist=checklist, active=True, changed_by=world.admin)
    new.refresh_from_db()
    checklist.refresh_from_db()
    assert (checklist.active, new.active) == (True, False)


def test_the_database_refuses_two_active_versions_of_one_name(
    world: World, checklist: FidelityChecklist
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        FidelityChecklist.objects.create(
            programme=world.programme, name=checklist.name, version=2, active=True
        )


def test_a_scored_item_cannot_be_deleted(
    world: World, checklist: FidelityChecklist, make_session: MakeSession
) -> None:
    _use(checklist, world, make_session)
    with pytest.raises(ProtectedError):
        checklist.items.first().delete()  # type: ignore[union-attr]


def test_only_programme_admins_revise_checklists(
    world: World, checklist: FidelityChecklist
) -> None:
    with pytest.raises(DomainError) as refused:
        revise_checklist(checklist=checklist, items=TWO_ITEMS, revised_by=world.supervisor)
    assert refused.value.code == "forbidden"
    assert [key for _, key, _ in _items(checklist)] == ["listening", "boundaries", "hope"]
