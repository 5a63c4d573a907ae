"""Concealed, stratified randomisation in permuted blocks of random size.

Written by hand on purpose: no maintained Python library does what the trial model needs
together (DESIGN.md §1): allocation stratified by site (and by track when the programme says
so), permuted blocks whose size is a random multiple of the arm weights' sum so the end of a
block can't be guessed, the blocks persisted in the database so allocation survives restarts
and several workers, and each block's sequence stored only as ciphertext under the
programme's data key so nobody, staff or database reader, can see the next arm before the
moment of enrolment. The randomness comes from `secrets` (the operating system's CSPRNG).

Never log a block's sequence, its size or an allocated arm here: the caller records the
reveal in the audit trail.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.db.transaction import TransactionManagementError

from encryption.services import FieldRef, decrypt, encrypt
from peerlink.errors import Conflict, DomainError
from programmes.models import Arm, Enrolment, Programme, RandomisationBlock, Site

SEQUENCE_TABLE = "programmes_randomisationblock"
SEQUENCE_FIELD = "sequence"
# RandomisationBlock.size and .used are PositiveSmallIntegerFields.
MAX_BLOCK_SIZE = 32767


@dataclass(frozen=True)
class Allocation:
    """The arm drawn for one enrolment. `number` is the 1-based count of allocations made in
    the stratum so far, this one included (it becomes `Enrolment.allocation_number`)."""

    arm: Arm
    stratum: str
    number: int


def stratum_key(*, programme: Programme, site: Site, track: str) -> str:
    """The stratum an enrolment falls in: its site, plus its track when the programme
    stratifies by track."""
    key = f"site={site.code}"
    if programme.stratify_by_track:
        key += f"|track={track}"
    return key


def sequence_ref(block_id: uuid.UUID | str) -> FieldRef:
    """Where a block's sequence ciphertext lives; bound into the ciphertext."""
    return FieldRef(table=SEQUENCE_TABLE, row=str(block_id), field=SEQUENCE_FIELD)


def _multipliers(value: object) -> list[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in value)
    ):
        raise DomainError(
            "invalid_randomisation",
            "The programme's block size multipliers must be a non-empty list of positive"
            " whole numbers.",
        )
    return list(value)


def _weighted_arms(programme: Programme) -> list[tuple[int, int]]:
    arms = [
        (arm_id, weight)
        for arm_id, weight in Arm.objects.filter(programme=programme)
        .order_by("id")
        .values_list("id", "allocation_weight")
        if weight > 0
    ]
    if not arms:
        raise DomainError("no_arms", "The programme has no arm to allocate to.")
    return arms


def _new_block(
    *,
    programme: Programme,
    stratum: str,
    number: int,
    arms: list[tuple[int, int]],
    multipliers: list[int],
) -> RandomisationBlock:
    multiplier = secrets.choice(multipliers)
    sequence = [arm_id for arm_id, weight in arms for _ in range(weight * multiplier)]
    if len(sequence) > MAX_BLOCK_SIZE:
        raise DomainError("invalid_randomisation", "The programme's blocks would be too large.")
    secrets.SystemRandom().shuffle(sequence)
    block_id = uuid.uuid4()
    ciphertext = encrypt(
        data_key=programme.data_key, plaintext=json.dumps(sequence), ref=sequence_ref(block_id)
    )
    return RandomisationBlock.objects.create(
        id=block_id,
        programme=programme,
        stratum=stratum,
        number=number,
        size=len(sequence),
        used=0,
        sequence_ciphertext=ciphertext,
    )


def _read_sequence(programme: Programme, block: RandomisationBlock) -> list[int]:
    plaintext = decrypt(
        data_key=programme.data_key,
        ciphertext=block.sequence_ciphertext,
        ref=sequence_ref(block.id),
    )
    sequence = json.loads(plaintext)
    if (
        not isinstance(sequence, list)
        or len(sequence) != block.size
        or not all(isinstance(arm_id, int) for arm_id in sequence)
    ):
        raise DomainError("invalid_randomisation", "A randomisation block is malformed.")
    return sequence


def allocate(*, programme: Programme, site: Site, track: str) -> Allocation:
    """Draw the next arm of the stratum of (`site`, `track`).

    Must run inside the caller's `transaction.atomic()`, together with the write of the
    enrolment: allocations of one programme are serialised by a row lock on the programme,
    held until that transaction ends. On any refusal nothing is written.
    """
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError("allocate() must run inside transaction.atomic().")
    locked = (
        Programme.objects.select_for_update(of=("self",))
        .select_related("data_key")
        .get(pk=programme.pk)
    )
    # A savepoint: a refusal below leaves nothing behind even if the caller catches it.
    with transaction.atomic():
        return _allocate_locked(programme=locked, site=site, track=track)


def _allocate_locked(*, programme: Programme, site: Site, track: str) -> Allocation:
    if site.programme_id != programme.pk:
        raise DomainError("invalid_site", "The site does not belong to this programme.")
    multipliers = _multipliers(programme.block_size_multipliers)
    arms = _weighted_arms(programme)
    stratum = stratum_key(programme=programme, site=site, track=track)

    limit = programme.max_enrolments_per_stratum
    if limit is not None and (
        Enrolment.objects.filter(programme=programme, stratum=stratum).count() >= limit
    ):
        raise Conflict("stratum_full", "This stratum has reached its enrolment limit.")

    block = (
        RandomisationBlock.objects.filter(programme=programme, stratum=stratum)
        .order_by("-number")
        .first()
    )
    if block is None or block.used >= block.size:
        block = _new_block(
            programme=programme,
            stratum=stratum,
            number=1 if block is None else block.number + 1,
            arms=arms,
            multipliers=multipliers,
        )
    arm_id = _read_sequence(programme, block)[block.used]
    arm = Arm.objects.filter(pk=arm_id, programme=programme).first()
    if arm is None:
        raise DomainError("invalid_randomisation", "A randomisation block names a missing arm.")
    block.used += 1
    block.save(update_fields=["used"])

    earlier = RandomisationBlock.objects.filter(
        programme=programme, stratum=stratum, number__lt=block.number
    ).aggregate(total=Sum("size"))["total"]
    return Allocation(arm=arm, stratum=stratum, number=(earlier or 0) + block.used)
