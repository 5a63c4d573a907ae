"""The scheduler benchmark's world: one programme with a text schedule and an approved library,
written through the real services, then N enrolled people written in bulk.

Bulk, not through `enrol_participant`: a million people through the services would take
hours, and seeding is not what is measured. The rows are what the services would have
written, with valid shapes: every person has a user (unusable password), a data key of their
own (a real AES-256 key wrapped under the current KEK), fake ciphertext for name and phone
(real ciphertext is written later for the few people the dispatch runs text, since the
send path decrypts their number), a unique blind-index value, an SMS consent, one of eight
Canadian time zones and one of five quiet-hours choices. 30% of the enrolments are in the arm
with peer support and have a conversation (with its own data key); 70% get texts only, which
the dispatcher sends straight to the outbox. Everyone reads by SMS.

Ids are derived from each person's number n (`md5('bench-...-n')::uuid`), so that the SQL
below and Python agree on them without a staging table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from django.db import connection

from encryption.keyring import current_keyring
from encryption.models import DataKeyPurpose
from encryption.services import encrypt
from people.services import participant_field_ref
from programmes import services as programmes
from programmes.models import Arm, Organisation, Programme, Site
from scheduling.library_format import LibrarySpec, MessageSpec
from scheduling.models import MessageLibrary
from scheduling.services import configure_schedule, import_library

TIME_ZONES = (
    "America/Toronto",
    "America/Toronto",
    "America/Vancouver",
    "America/Edmonton",
    "America/Winnipeg",
    "America/Regina",
    "America/Halifax",
    "America/St_Johns",
)
# (start, end) of each person's own quiet hours; the programme's are 21:00-08:00 on top.
QUIET_HOURS = (
    ("21:00", "08:00"),
    ("22:00", "07:00"),
    ("20:00", "09:00"),
    ("23:00", "06:30"),
    ("22:30", "07:30"),
)
PEER_RESIDUES = (3, 6, 9)  # n % 10 in these: the arm with peer support (30%)
TRACKS = ("general", "depression")
LANGUAGES = ("en", "fr")
TEXTS_PER_TRACK = 60
ENROLLED_OVER_DAYS = 150  # enrolled at spread-out times over the 150 days before `now`
# Canadian area codes: with the 555-01XX fiction range, 100 numbers each.
AREA_CODES = (  # noqa: SIM905
    "204 226 236 249 250 289 306 343 365 403 416 418 431 437 438 450 506 514 519 548 "
    "579 581 587 604 613 639 647 705 709 778 780 782 807 819 825 867 873 902 905"
).split()
USER_ID_BASE = 1_000_000


def md5_uuid(text: str) -> uuid.UUID:
    """`md5(text)::uuid`, as PostgreSQL computes it."""
    return uuid.UUID(hashlib.md5(text.encode()).hexdigest())  # noqa: S324 - ids, not secrets


def is_peer(n: int) -> bool:
    return n % 10 in PEER_RESIDUES


def fictional_phone(n: int) -> str:
    return f"+1{AREA_CODES[(n // 100) % len(AREA_CODES)]}55501{n % 100:02d}"


@dataclass(frozen=True)
class World:
    programme: Programme
    library: MessageLibrary
    size: int


def library() -> MessageLibrary:
    messages = tuple(
        MessageSpec(
            key=f"{track}-{language}-{n:03d}",
            track=track,
            category="supportive",
            language=language,
            position=n,
            text=f"Fictional {track} supportive text number {n} ({language}): you are not alone.",
            author="Bench Author",
            approver="Bench Clinician",
            approved_on=dt.date(2026, 11, 1),
        )
        for track in TRACKS
        for language in LANGUAGES
        for n in range(1, TEXTS_PER_TRACK + 1)
    )
    import_library(
        spec=LibrarySpec(slug="bench", name="Bench library", is_sample=False, messages=messages)
    )
    return MessageLibrary.objects.get(slug="bench")


def programme_with_schedule() -> tuple[Programme, MessageLibrary]:
    organisation, _ = Organisation.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    programme = programmes.create_programme(
        organisation=organisation,
        slug="bench",
        name="Benchmark programme",
        time_zone="America/Toronto",
        languages=LANGUAGES,
        arms=(
            programmes.ArmSpec("peer_support_texts", "Peer support and texts", True, True, True),
            programmes.ArmSpec("texts", "Supportive texts", False, True, True),
        ),
        sites=[("main", "Main")],
        auto_assign=False,
    )
    lib = library()
    # No enrolments yet: this plans nothing. Defaults: 10:00, quiet 21:00-08:00, 180 days.
    configure_schedule(programme=programme, changed_by=None, library=lib, send_times=["10:00"])
    return programme, lib


def _copy_data_keys(rows: list[tuple[uuid.UUID, str, int, bytes, dt.datetime]]) -> None:
    raw = connection.connection
    with (
        raw.cursor() as cur,
        cur.copy(
            "COPY encryption_datakey (id, purpose, kek_version, wrapped_key, created_at) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def seed(size: int, now: dt.datetime) -> World:
    """N people, each enrolled (before `now`) in the programme's arms with texts."""
    programme, lib = programme_with_schedule()
    arms = {a.code: a.pk for a in Arm.objects.filter(programme=programme)}
    site = Site.objects.get(programme=programme, code="main").pk
    connection.ensure_connection()
    ring = current_keyring()
    version = ring.current_version
    kek = ring.kek(version)
    # Real wrapped keys: the dispatcher encrypts each message under its conversation's key
    # and the send path decrypts each number under the person's.
    chunk = 100_000
    for start in range(1, size + 1, chunk):
        rows = []
        for n in range(start, min(start + chunk, size + 1)):
            rows.append(
                (
                    md5_uuid(f"bench-pkey-{n}"),
                    DataKeyPurpose.PERSON,
                    version,
                    aes_key_wrap(kek, os.urandom(32)),
                    now,
                )
            )
            if is_peer(n):
                rows.append(
                    (
                        md5_uuid(f"bench-ckey-{n}"),
                        DataKeyPurpose.CONVERSATION,
                        version,
                        aes_key_wrap(kek, os.urandom(32)),
                        now,
                    )
                )
        _copy_data_keys(rows)
    params = {
        "n": size,
        "base": USER_ID_BASE,
        "now": now,
        "zones": list(TIME_ZONES),
        "starts": [start for start, _ in QUIET_HOURS],
        "ends": [end for _, end in QUIET_HOURS],
        "zone_count": len(TIME_ZONES),
        "quiet_count": len(QUIET_HOURS),
        "peer": list(PEER_RESIDUES),
        "spread": ENROLLED_OVER_DAYS * 86400 - 7200,
        "peer_arm": arms["peer_support_texts"],
        "texts_arm": arms["texts"],
        "programme": programme.pk,
        "site": site,
    }
    statements = [
        "INSERT INTO people_user (id, password, is_superuser, username, first_name, last_name, "
        "email, is_staff, is_active, date_joined) "
        "SELECT %(base)s + g, '!bench-unusable', false, 'bench-' || g, '', '', '', false, true, "
        "%(now)s FROM generate_series(1, %(n)s) g",
        "SELECT setval(pg_get_serial_sequence('people_user', 'id'), "
        "(SELECT max(id) FROM people_user))",
        # Fake ciphertext: the format byte, a nonce's and a tag's worth of bytes.
        "INSERT INTO people_participant (id, user_id, data_key_id, name_ciphertext, "
        "phone_ciphertext, phone_index, language, time_zone, preferred_channel, "
        "quiet_hours_start, quiet_hours_end, created_at) "
        "SELECT md5('bench-participant-' || g)::uuid, %(base)s + g, "
        "md5('bench-pkey-' || g)::uuid, "
        "'\\x01'::bytea || decode(md5('name-' || g) || md5('name2-' || g), 'hex'), "
        "'\\x01'::bytea || decode(md5('phone-' || g) || md5('phone2-' || g), 'hex'), "
        "md5('index-' || g) || md5('index2-' || g), "
        "CASE WHEN g %% 7 = 0 THEN 'fr' ELSE 'en' END, "
        "(%(zones)s::text[])[1 + g %% %(zone_count)s], 'sms', "
        "(%(starts)s::text[])[1 + (g / %(zone_count)s) %% %(quiet_count)s]::time, "
        "(%(ends)s::text[])[1 + (g / %(zone_count)s) %% %(quiet_count)s]::time, "
        "%(now)s FROM generate_series(1, %(n)s) g",
        "INSERT INTO people_consentrecord (kind, version, granted_at, granted_source, "
        "withdrawn_at, withdrawn_source, programme_id, recorded_by_id, participant_id) "
        "SELECT 'sms', 'v1', %(now)s - interval '151 days', 'staff', NULL, '', NULL, NULL, "
        "md5('bench-participant-' || g)::uuid FROM generate_series(1, %(n)s) g",
        "INSERT INTO programmes_enrolment (id, track, discharge_date, enrolled_at, status, "
        "ended_at, stratum, allocation_number, arm_id, enrolled_by_id, participant_id, "
        "programme_id, site_id, age_band, gender) "
        "SELECT md5('bench-enrolment-' || g)::uuid, "
        "CASE WHEN (g / 3) %% 10 < 3 THEN 'depression' ELSE 'general' END, NULL, "
        "%(now)s - interval '1 hour' - ((g::bigint * 7919) %% %(spread)s) * interval '1 second', "
        "'active', NULL, 'main', g, "
        "CASE WHEN g %% 10 = ANY(%(peer)s) THEN %(peer_arm)s ELSE %(texts_arm)s END, NULL, "
        "md5('bench-participant-' || g)::uuid, %(programme)s, %(site)s, "
        "'not_recorded', 'not_recorded' "
        "FROM generate_series(1, %(n)s) g",
        "INSERT INTO messaging_conversation (id, last_seq, last_message_at, created_at, "
        "data_key_id, enrolment_id) "
        "SELECT md5('bench-conv-' || g)::uuid, 0, NULL, %(now)s, md5('bench-ckey-' || g)::uuid, "
        "md5('bench-enrolment-' || g)::uuid "
        "FROM generate_series(1, %(n)s) g WHERE g %% 10 = ANY(%(peer)s)",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)
        for table in (
            "encryption_datakey",
            "people_user",
            "people_participant",
            "people_consentrecord",
            "programmes_enrolment",
            "messaging_conversation",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return World(programme=programme, library=lib, size=size)


def real_ciphertext(participant_ids: list[uuid.UUID]) -> None:
    """Real name and phone ciphertext for the people a dispatch run texts (the send path
    decrypts both), under each person's own data key."""
    from people.models import Participant

    rows = list(Participant.objects.filter(pk__in=participant_ids).select_related("data_key"))
    for participant in rows:
        n = int(participant.user_id) - USER_ID_BASE
        participant.name_ciphertext = encrypt(
            data_key=participant.data_key,
            plaintext=f"Bench Person {n}",
            ref=participant_field_ref(participant.id, "name"),
        )
        participant.phone_ciphertext = encrypt(
            data_key=participant.data_key,
            plaintext=fictional_phone(n),
            ref=participant_field_ref(participant.id, "phone"),
        )
    Participant.objects.bulk_update(rows, ["name_ciphertext", "phone_ciphertext"], batch_size=1000)
