"""Stratified, concealed randomisation in permuted blocks of random size."""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.contrib.admin.sites import all_sites
from django.db import OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from encryption.services import DecryptionError, create_data_key, decrypt
from peerlink.errors import Conflict, DomainError
from people.models import Participant, User
from programmes import randomisation
from programmes.models import (
    Arm,
    Enrolment,
    Organisation,
    Programme,
    RandomisationBlock,
    Site,
)
from programmes.randomisation import Allocation, allocate, stratum_key

ARMS = (
    # code, peer support, supportive texts
    ("peer_support", True, False),
    ("peer_support_texts", True, True),
    ("texts", False, True),
    ("usual_care", False, False),
)


def make_programme(
    *,
    slug: str = "epss",
    sites: Sequence[str] = ("edmonton", "calgary"),
    weights: Sequence[int] = (1, 1, 1, 1),
    multipliers: Any = (1, 2),
    stratify_by_track: bool = False,
    max_per_stratum: int | None = None,
) -> Programme:
    organisation, _ = Organisation.objects.get_or_create(slug="ahs", defaults={"name": "AHS"})
    programme = Programme.objects.create(
        organisation=organisation,
        slug=slug,
        name=slug.upper(),
        time_zone="America/Edmonton",
        stratify_by_track=stratify_by_track,
        block_size_multipliers=list(multipliers) if isinstance(multipliers, tuple) else multipliers,
        max_enrolments_per_stratum=max_per_stratum,
        data_key=create_data_key(purpose="programme"),
    )
    for code in sites:
        Site.objects.create(programme=programme, code=code, name=code.title())
    for (code, peer, texts), weight in zip(ARMS, weights, strict=True):
        Arm.objects.create(
            programme=programme,
            code=code,
            name=code,
            allocation_weight=weight,
            peer_support=peer,
            supportive_texts=texts,
            reminder_texts=texts,
        )
    return programme


def site(programme: Programme, code: str = "edmonton") -> Site:
    return Site.objects.get(programme=programme, code=code)


def allocate_once(programme: Programme, at: Site, track: str = "general") -> Allocation:
    with transaction.atomic():
        return allocate(programme=programme, site=at, track=track)


def allocate_many(
    programme: Programme, at: Site, count: int, track: str = "general"
) -> list[Allocation]:
    return [allocate_once(programme, at, track) for _ in range(count)]


def enrol(
    programme: Programme, at: Site, allocation: Allocation, track: str = "general"
) -> Enrolment:
    user = User.objects.create(username=f"participant-{uuid.uuid4().hex}")
    participant = Participant.objects.create(
        user=user,
        data_key=create_data_key(purpose="person"),
        name_ciphertext=b"x",
        phone_ciphertext=b"x",
        phone_index=uuid.uuid4().hex,
        time_zone="America/Edmonton",
    )
    return Enrolment.objects.create(
        participant=participant,
        programme=programme,
        site=at,
        arm=allocation.arm,
        track=track,
        enrolled_at=timezone.now(),
        stratum=allocation.stratum,
        allocation_number=allocation.number,
    )


def blocks_of(programme: Programme, stratum: str) -> list[RandomisationBlock]:
    blocks = RandomisationBlock.objects.filter(programme=programme, stratum=stratum)
    return list(blocks.order_by("number"))


def block_state(programme: Programme) -> list[tuple[str, int, int, int]]:
    blocks = RandomisationBlock.objects.filter(programme=programme)
    return sorted(blocks.values_list("stratum", "number", "size", "used"))


def assert_balanced_at_block_ends(
    programme: Programme, stratum: str, arm_codes: Sequence[str], weights: dict[str, int]
) -> int:
    """Checks every complete block of the stratum; returns how many were complete."""
    blocks = blocks_of(programme, stratum)
    assert sum(block.used for block in blocks) == len(arm_codes)
    total_weight = sum(weights.values())
    end = 0
    complete = 0
    for block in blocks:
        assert block.size % total_weight == 0
        end += block.size
        if end > len(arm_codes):
            break
        complete += 1
        counts = Counter(arm_codes[:end])
        assert counts == {code: weight * end // total_weight for code, weight in weights.items()}
    return complete


def in_number_order(allocations: Sequence[Allocation]) -> list[str]:
    ordered = sorted(allocations, key=lambda a: a.number)
    assert [a.number for a in ordered] == list(range(1, len(ordered) + 1))
    return [a.arm.code for a in ordered]


EQUAL = {code: 1 for code, _, _ in ARMS}


# Strata -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stratum_key_is_the_site_when_not_stratified_by_track() -> None:
    programme = make_programme()
    key = stratum_key(programme=programme, site=site(programme), track="psychosis")
    assert key == "site=edmonton"


@pytest.mark.django_db
def test_stratum_key_adds_the_track_when_stratified_by_track() -> None:
    programme = make_programme(stratify_by_track=True)
    key = stratum_key(programme=programme, site=site(programme), track="psychosis")
    assert key == "site=edmonton|track=psychosis"


@pytest.mark.django_db
def test_tracks_share_a_stratum_without_track_stratification() -> None:
    programme = make_programme()
    edmonton = site(programme)
    allocations = [allocate_once(programme, edmonton, track) for track in ["mood", "psychosis"] * 6]
    assert {a.stratum for a in allocations} == {"site=edmonton"}
    assert [a.number for a in allocations] == list(range(1, 13))


@pytest.mark.django_db
def test_tracks_are_separate_strata_with_track_stratification() -> None:
    programme = make_programme(stratify_by_track=True)
    edmonton = site(programme)
    allocations = [allocate_once(programme, edmonton, track) for track in ["mood", "psychosis"] * 6]
    mood = [a for a in allocations if a.stratum == "site=edmonton|track=mood"]
    psychosis = [a for a in allocations if a.stratum == "site=edmonton|track=psychosis"]
    assert [a.number for a in mood] == [1, 2, 3, 4, 5, 6]
    assert [a.number for a in psychosis] == [1, 2, 3, 4, 5, 6]
    assert {b.stratum for b in RandomisationBlock.objects.all()} == {
        "site=edmonton|track=mood",
        "site=edmonton|track=psychosis",
    }


@pytest.mark.django_db
def test_sites_are_separate_strata() -> None:
    programme = make_programme()
    edmonton = allocate_many(programme, site(programme, "edmonton"), 5)
    calgary = allocate_many(programme, site(programme, "calgary"), 3)
    assert [a.number for a in edmonton] == [1, 2, 3, 4, 5]
    assert [(a.stratum, a.number) for a in calgary] == [("site=calgary", n) for n in (1, 2, 3)]


# Balance ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_complete_block_is_balanced_in_every_stratum() -> None:
    programme = make_programme(stratify_by_track=True, multipliers=(1, 2, 3))
    by_stratum: dict[str, list[Allocation]] = {}
    rounds = list(itertools.product(["edmonton", "calgary"], ["mood", "psychosis"]))
    sites = {code: site(programme, code) for code in ("edmonton", "calgary")}
    # Interleave the strata, as real enrolment would.
    for _ in range(200):
        for code, track in rounds:
            allocation = allocate_once(programme, sites[code], track)
            by_stratum.setdefault(allocation.stratum, []).append(allocation)
    assert len(by_stratum) == 4
    for stratum, allocations in by_stratum.items():
        arm_codes = in_number_order(allocations)
        complete = assert_balanced_at_block_ends(programme, stratum, arm_codes, EQUAL)
        assert complete >= 200 // 12


@pytest.mark.django_db
def test_unequal_weights_are_proportional_at_every_block_end() -> None:
    programme = make_programme(weights=(2, 1, 1, 1), multipliers=(1, 2, 3))
    weights = {"peer_support": 2, "peer_support_texts": 1, "texts": 1, "usual_care": 1}
    for code in ("edmonton", "calgary"):
        allocations = allocate_many(programme, site(programme, code), 150)
        complete = assert_balanced_at_block_ends(
            programme, f"site={code}", in_number_order(allocations), weights
        )
        assert complete >= 150 // 15
    assert {b.size for b in RandomisationBlock.objects.all()} <= {5, 10, 15}


@pytest.mark.django_db
def test_arms_with_zero_weight_are_never_allocated() -> None:
    programme = make_programme(weights=(1, 1, 1, 0), multipliers=(1,))
    allocations = allocate_many(programme, site(programme), 30)
    assert "usual_care" not in {a.arm.code for a in allocations}
    assert {b.size for b in RandomisationBlock.objects.all()} == {3}


# Block sizes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_block_sizes_vary_between_blocks() -> None:
    programme = make_programme(multipliers=(1, 2, 3))
    allocate_many(programme, site(programme), 240)
    sizes = [b.size for b in blocks_of(programme, "site=edmonton")]
    assert len(sizes) >= 240 // 12
    assert set(sizes) <= {4, 8, 12}
    assert len(set(sizes)) > 1


@pytest.mark.django_db
def test_block_multiplier_is_drawn_with_secrets_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    offered: list[list[int]] = []

    def choose_largest(options: Sequence[int]) -> int:
        offered.append(list(options))
        return max(options)

    monkeypatch.setattr(secrets, "choice", choose_largest)
    programme = make_programme(multipliers=(1, 2, 3))
    allocate_many(programme, site(programme), 24)
    assert [b.size for b in blocks_of(programme, "site=edmonton")] == [12, 12]
    assert offered == [[1, 2, 3], [1, 2, 3]]


@pytest.mark.django_db
def test_block_is_shuffled_with_secrets_system_random(monkeypatch: pytest.MonkeyPatch) -> None:
    shuffled: list[int] = []

    def reverse(self: secrets.SystemRandom, items: list[Any]) -> None:
        assert isinstance(self, secrets.SystemRandom)
        shuffled.append(len(items))
        items.reverse()

    monkeypatch.setattr(secrets.SystemRandom, "shuffle", reverse)
    programme = make_programme(multipliers=(1,))
    allocations = allocate_many(programme, site(programme), 8)
    assert [a.arm.code for a in allocations] == [code for code, _, _ in reversed(ARMS)] * 2
    assert shuffled == [4, 4]


# Concealment ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stored_sequence_is_ciphertext_not_readable_arm_ids() -> None:
    programme = make_programme(multipliers=(3,))
    allocate_once(programme, site(programme))
    block = RandomisationBlock.objects.get()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequence_ciphertext FROM programmes_randomisationblock WHERE id = %s",
            [block.pk.hex if connection.vendor == "sqlite" else block.pk],
        )
        (raw,) = cursor.fetchone()
    raw = bytes(raw)
    sequence = json.loads(
        decrypt(
            data_key=programme.data_key, ciphertext=raw, ref=randomisation.sequence_ref(block.pk)
        )
    )
    assert sorted(sequence) == sorted(list(Arm.objects.values_list("id", flat=True)) * 3)
    assert json.dumps(sequence).encode() not in raw
    assert json.dumps(sequence, separators=(",", ":")).encode() not in raw
    for code, _, _ in ARMS:
        assert code.encode() not in raw


@pytest.mark.django_db
def test_sequence_ciphertext_is_bound_to_its_block() -> None:
    programme = make_programme(multipliers=(1,))
    allocate_many(programme, site(programme), 5)
    first, second = blocks_of(programme, "site=edmonton")
    with pytest.raises(DecryptionError):
        decrypt(
            data_key=programme.data_key,
            ciphertext=first.sequence_ciphertext,
            ref=randomisation.sequence_ref(second.pk),
        )


def test_randomisation_blocks_are_not_in_any_admin_site() -> None:
    for admin_site in all_sites:
        assert RandomisationBlock not in admin_site._registry


def _patterns(patterns: Sequence[URLPattern | URLResolver]) -> Iterator[URLPattern]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns)
        else:
            yield pattern


def _models_behind(callback: Any) -> set[Any]:
    models: set[Any] = set()
    model_admin = getattr(callback, "model_admin", None)
    if model_admin is not None:
        models.add(model_admin.model)
    for view in (getattr(callback, "view_class", None), getattr(callback, "cls", None), callback):
        if view is None:
            continue
        queryset = getattr(view, "queryset", None)
        if queryset is not None and hasattr(queryset, "model"):
            models.add(queryset.model)
        if isinstance(getattr(view, "model", None), type):
            models.add(view.model)
        serializer = getattr(view, "serializer_class", None)
        meta = getattr(serializer, "Meta", None)
        if meta is not None and hasattr(meta, "model"):
            models.add(meta.model)
    return models


def test_no_url_routes_to_randomisation_blocks() -> None:
    patterns = list(_patterns(get_resolver().url_patterns))
    assert patterns
    for pattern in patterns:
        callback = pattern.callback
        assert RandomisationBlock not in _models_behind(callback), pattern
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None) or callback
        module = inspect.getmodule(view)
        if module is None:
            continue
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            continue
        assert "RandomisationBlock" not in source, pattern


@pytest.mark.django_db
def test_next_arm_is_not_predictable_within_a_block() -> None:
    programme = make_programme(multipliers=(1,))
    arms = allocate_many(programme, site(programme), 4 * 400)
    blocks = [[a.arm.code for a in arms[i : i + 4]] for i in range(0, len(arms), 4)]
    assert all(sorted(block) == sorted(EQUAL) for block in blocks)
    # The first slot is uniform: each arm 25% expected; 10%..40% is over 7 sd away.
    first = Counter(block[0] for block in blocks)
    assert set(first) == set(EQUAL)
    assert all(40 <= count <= 160 for count in first.values()), first
    # Knowing the first slot, the second is any of the other three: each ordered pair of the
    # 12 is expected ~33 times out of 400.
    pairs = Counter((block[0], block[1]) for block in blocks)
    assert len(pairs) == 12
    assert all(count >= 5 for count in pairs.values()), pairs


@pytest.mark.django_db
def test_allocation_logs_neither_arm_nor_sequence(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    programme = make_programme(multipliers=(1,))
    allocations = allocate_many(programme, site(programme), 6)
    text = "\n".join(record.getMessage() for record in caplog.records)
    for allocation in allocations:
        assert allocation.arm.code not in text
    assert "sequence" not in text.lower()


# Refusals ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [3, 4])
def test_full_stratum_is_refused_and_nothing_is_written(limit: int) -> None:
    programme = make_programme(multipliers=(1,), max_per_stratum=limit)
    edmonton = site(programme)
    for allocation in allocate_many(programme, edmonton, limit):
        enrol(programme, edmonton, allocation)
    before = block_state(programme)
    with pytest.raises(Conflict) as caught:
        allocate_once(programme, edmonton)
    assert caught.value.code == "stratum_full"
    assert block_state(programme) == before


@pytest.mark.django_db
def test_full_stratum_does_not_block_other_strata() -> None:
    programme = make_programme(multipliers=(1,), max_per_stratum=1)
    edmonton = site(programme)
    enrol(programme, edmonton, allocate_once(programme, edmonton))
    allocation = allocate_once(programme, site(programme, "calgary"))
    assert (allocation.stratum, allocation.number) == ("site=calgary", 1)


@pytest.mark.django_db
def test_programme_without_arms_is_refused() -> None:
    programme = make_programme()
    Arm.objects.filter(programme=programme).delete()
    with pytest.raises(DomainError) as caught:
        allocate_once(programme, site(programme))
    assert caught.value.code == "no_arms"
    assert not RandomisationBlock.objects.exists()


@pytest.mark.django_db
def test_programme_whose_arms_all_weigh_zero_is_refused() -> None:
    programme = make_programme(weights=(0, 0, 0, 0))
    with pytest.raises(DomainError) as caught:
        allocate_once(programme, site(programme))
    assert caught.value.code == "no_arms"
    assert not RandomisationBlock.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "multipliers", [[], [0], [-1], [1, 0], [1.5], [True], ["2"], "2", {"a": 1}, [10000]]
)
def test_invalid_block_size_multipliers_are_refused(multipliers: Any) -> None:
    programme = make_programme(multipliers=multipliers)
    with pytest.raises(DomainError) as caught:
        allocate_once(programme, site(programme))
    assert caught.value.code == "invalid_randomisation"
    assert not RandomisationBlock.objects.exists()


@pytest.mark.django_db
def test_site_of_another_programme_is_refused() -> None:
    programme = make_programme()
    other = make_programme(slug="text4hope")
    with pytest.raises(DomainError) as caught:
        allocate_once(programme, site(other))
    assert caught.value.code == "invalid_site"
    assert not RandomisationBlock.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_allocation_outside_a_transaction_is_refused() -> None:
    programme = make_programme()
    with pytest.raises(TransactionManagementError):
        allocate(programme=programme, site=site(programme), track="general")
    assert not RandomisationBlock.objects.exists()


# Concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_get_unique_numbers_and_balanced_blocks() -> None:
    postgres = connection.vendor == "postgresql"
    threads_count, per_thread = (8, 12) if postgres else (4, 10)
    programme = make_programme(multipliers=(1, 2, 3))
    sites = [site(programme, "edmonton"), site(programme, "calgary")]
    results: list[Allocation] = []
    errors: list[BaseException] = []
    vendors: set[str] = set()
    lock = threading.Lock()
    start = threading.Barrier(threads_count)

    def work(index: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                at = sites[(index + n) % 2]
                for attempt in itertools.count():
                    try:
                        allocation = allocate_once(programme, at)
                        break
                    except OperationalError as exc:
                        # SQLite refuses a second writer instead of waiting for it.
                        if postgres or "locked" not in str(exc) or attempt > 200:
                            raise
                        time.sleep(0.005 * (1 + attempt % 10))
                with lock:
                    results.append(allocation)
                    vendors.add(connection.vendor)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    assert vendors == {connection.vendor}
    assert len(results) == threads_count * per_thread
    for code in ("edmonton", "calgary"):
        stratum = f"site={code}"
        allocations = [a for a in results if a.stratum == stratum]
        assert len(allocations) == threads_count * per_thread // 2
        assert_balanced_at_block_ends(programme, stratum, in_number_order(allocations), EQUAL)
