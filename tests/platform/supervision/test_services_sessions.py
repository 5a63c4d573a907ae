"""record_session and open_session_notes: sessions are stored once, their notes encrypted
under their own key and bound to their row, every write and every read of the notes audited,
and bad input refused with its own code before anything is written."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from audit.models import AuditEntry
from encryption.models import DataKey
from encryption.services import DecryptionError
from peerlink.errors import DomainError
from programmes.models import Role
from supervision.models import SupervisionSession
from supervision.services import notes_ref, open_session_notes, programme_today, record_session
from tests.platform.supervision.helpers import TODAY
from tests.support.factories import World, make_programme, make_staff

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., SupervisionSession]


def _marker() -> str:
    return "Quokka-notes-" + uuid.uuid4().hex


def _counts() -> tuple[int, int, int]:
    return (SupervisionSession.objects.count(), DataKey.objects.count(), AuditEntry.objects.count())


def test_a_supervisor_records_a_session_with_its_participants(
    world: World, make_session: MakeSession
) -> None:
    session = make_session(kind="group", peer_supporter_ids=[world.peer.id, world.other_peer.id])
    stored = SupervisionSession.objects.get()
    assert stored.pk == session.pk
    assert (stored.programme, stored.supervisor, stored.created_by) == (
        world.programme,
        world.supervisor,
        world.supervisor,
    )
    assert stored.kind == "group"
    assert stored.duration_minutes == 50
    assert set(stored.peer_supporters.values_list("id", flat=True)) == {
        world.peer.id,
        world.other_peer.id,
    }


def test_notes_are_ciphertext_in_the_database(
    make_session: MakeSession, raw_database_bytes: Any
) -> None:
    marker = _marker()
    make_session(notes=marker)
    with connection.cursor() as cursor:
        cursor.execute("SELECT notes_ciphertext FROM supervision_supervisionsession")
        (column,) = cursor.fetchone()
    assert marker.encode() not in bytes(column)
    assert marker.encode() not in raw_database_bytes()


def test_notes_decrypt_back_for_a_reader(world: World, make_session: MakeSession) -> None:
    marker = _marker()
    session = make_session(notes=marker)
    reloaded = SupervisionSession.objects.select_related("data_key", "programme").get()
    assert open_session_notes(session=reloaded, reader=world.peer) == marker
    assert session.pk == reloaded.pk


def test_notes_keep_their_line_breaks_and_spaces(world: World, make_session: MakeSession) -> None:
    notes = "  Goals:\n- rest\n- ask for help  "
    session = make_session(notes=notes)
    assert open_session_notes(session=session, reader=world.supervisor) == notes


def test_a_session_may_have_no_notes(world: World, make_session: MakeSession) -> None:
    session = make_session(notes="")
    assert open_session_notes(session=session, reader=world.supervisor) == ""


def test_each_session_has_its_own_data_key(make_session: MakeSession) -> None:
    first, second = make_session(), make_session()
    assert first.data_key_id != second.data_key_id


def test_notes_copied_to_another_session_do_not_decrypt(
    world: World, make_session: MakeSession
) -> None:
    first, second = make_session(), make_session()
    SupervisionSession.objects.filter(pk=second.pk).update(
        notes_ciphertext=bytes(first.notes_ciphertext), data_key=first.data_key
    )
    tampered = SupervisionSession.objects.select_related("data_key", "programme").get(pk=second.pk)
    with pytest.raises(DecryptionError):
        open_session_notes(session=tampered, reader=world.supervisor)


def test_the_notes_ref_names_table_row_and_field(make_session: MakeSession) -> None:
    session = make_session()
    ref = notes_ref(session.id)
    assert (ref.table, ref.row, ref.field) == (
        "supervision_supervisionsession",
        str(session.id),
        "notes",
    )


def test_recording_is_audited_with_ids_and_codes_only(
    world: World, make_session: MakeSession
) -> None:
    marker = _marker()
    session = make_session(notes=marker)
    entry = AuditEntry.objects.get(action="supervision_session.recorded")
    assert (entry.actor_id, entry.target_id) == (world.supervisor.id, str(session.id))
    assert entry.details == {
        "programme": world.programme.slug,
        "supervisor": world.supervisor.id,
        "kind": "individual",
        "duration_minutes": 50,
        "peer_supporters": [world.peer.id],
    }
    assert all(
        marker not in json.dumps(details)
        for details in AuditEntry.objects.values_list("details", flat=True)
    )


def test_reading_the_notes_is_audited(world: World, make_session: MakeSession) -> None:
    session = make_session()
    open_session_notes(session=session, reader=world.peer)
    open_session_notes(session=session, reader=world.supervisor)
    reads = AuditEntry.objects.filter(action="supervision_session.read").order_by("id")
    assert [(e.actor_id, e.target_id, e.details) for e in reads] == [
        (world.peer.id, str(session.id), {"programme": world.programme.slug}),
        (world.supervisor.id, str(session.id), {"programme": world.programme.slug}),
    ]


def test_a_retry_with_the_same_client_id_returns_the_first_session(
    world: World, make_session: MakeSession
) -> None:
    first = make_session(client_id="retry-me")
    before = _counts()
    again = record_session(
        programme=world.programme,
        supervisor=world.supervisor,
        recorded_by=world.supervisor,
        held_on=programme_today(world.programme),
        kind="group",
        duration_minutes=90,
        peer_supporter_ids=[world.other_peer.id],
        notes="a different body",
        client_id="retry-me",
    )
    assert (again.session.pk, again.created) == (first.pk, False)
    assert _counts() == before


def test_the_same_client_id_from_another_supervisor_is_another_session(
    world: World, make_session: MakeSession
) -> None:
    colleague = make_staff(world.programme, Role.SUPERVISOR)
    first = make_session(client_id="shared-id")
    second = make_session(client_id="shared-id", supervisor=colleague, recorded_by=colleague)
    assert first.pk != second.pk
    assert SupervisionSession.objects.count() == 2


def test_a_participant_named_twice_takes_part_once(world: World, make_session: MakeSession) -> None:
    session = make_session(peer_supporter_ids=[world.peer.id, world.peer.id])
    assert list(session.peer_supporters.values_list("id", flat=True)) == [world.peer.id]


def test_a_session_held_today_in_the_programme_but_tomorrow_in_utc_is_accepted(
    world: World, make_session: MakeSession, frozen_now: Callable[[dt.datetime], None]
) -> None:
    # 2026-03-10 22:00 in Edmonton is already the 11th in UTC.
    frozen_now(dt.datetime(2026, 3, 11, 4, 0, tzinfo=dt.UTC))
    assert make_session(held_on=TODAY).held_on == TODAY
    with pytest.raises(DomainError) as refused:
        make_session(held_on=TODAY + dt.timedelta(days=1))
    assert refused.value.code == "held_on_in_future"


def test_a_programme_east_of_utc_may_record_its_today_before_utc_reaches_it(
    frozen_now: Callable[[dt.datetime], None], db: None
) -> None:
    frozen_now(dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC))  # the 11th, 05:00 in Tokyo
    programme = make_programme("tokyo", time_zone="Asia/Tokyo")
    supervisor = make_staff(programme, Role.SUPERVISOR)
    peer = make_staff(programme, Role.PEER_SUPPORTER)
    recorded = record_session(
        programme=programme,
        supervisor=supervisor,
        recorded_by=supervisor,
        held_on=dt.date(2026, 3, 11),
        kind="individual",
        duration_minutes=30,
        peer_supporter_ids=[peer.id],
        notes="",
        client_id="tokyo-1",
    )
    assert recorded.created


def _other_programme_peer(world: World) -> int:
    return make_staff(make_programme("elsewhere"), Role.PEER_SUPPORTER).id


BAD_SESSIONS: list[tuple[str, Callable[[World], dict[str, Any]], str]] = [
    (
        "held tomorrow",
        lambda w: {"held_on": programme_today(w.programme) + dt.timedelta(days=1)},
        "held_on_in_future",
    ),
    ("a datetime for a date", lambda w: {"held_on": dt.datetime(2026, 1, 1)}, "invalid_date"),
    ("a string for a date", lambda w: {"held_on": "2026-01-01"}, "invalid_date"),
    ("no participants", lambda w: {"peer_supporter_ids": []}, "no_participants"),
    ("participants not a list", lambda w: {"peer_supporter_ids": 3}, "invalid_participants"),
    ("a participant id as text", lambda w: {"peer_supporter_ids": ["3"]}, "invalid_participants"),
    (
        "the supervisor as participant",
        lambda w: {"peer_supporter_ids": [w.supervisor.id]},
        "supervisor_is_participant",
    ),
    (
        "an evaluator as participant",
        lambda w: {"peer_supporter_ids": [w.evaluator.id]},
        "not_a_peer_supporter",
    ),
    (
        "an admin as participant",
        lambda w: {"peer_supporter_ids": [w.admin.id]},
        "not_a_peer_supporter",
    ),
    (
        "a service user as participant",
        lambda w: {"peer_supporter_ids": [w.own.participant.user.id]},
        "not_a_peer_supporter",
    ),
    (
        "a peer of another programme",
        lambda w: {"peer_supporter_ids": [_other_programme_peer(w)]},
        "not_a_peer_supporter",
    ),
    (
        "an unknown user",
        lambda w: {"kind": "group", "peer_supporter_ids": [w.peer.id, 10**9]},
        "not_a_peer_supporter",
    ),
    (
        "an individual session with two",
        lambda w: {"peer_supporter_ids": [w.peer.id, w.other_peer.id]},
        "individual_needs_one_participant",
    ),
    ("an unknown kind", lambda w: {"kind": "retreat"}, "invalid_kind"),
    ("no minutes", lambda w: {"duration_minutes": 0}, "invalid_duration"),
    ("too many minutes", lambda w: {"duration_minutes": 481}, "invalid_duration"),
    ("minutes as a boolean", lambda w: {"duration_minutes": True}, "invalid_duration"),
    ("minutes as text", lambda w: {"duration_minutes": "50"}, "invalid_duration"),
    ("notes too long", lambda w: {"notes": "n" * 20001}, "invalid_notes"),
    ("notes not text", lambda w: {"notes": None}, "invalid_notes"),
    ("notes with a lone surrogate", lambda w: {"notes": "a\ud800b"}, "invalid_notes"),
    ("an empty client id", lambda w: {"client_id": ""}, "invalid_client_id"),
    ("a client id too long", lambda w: {"client_id": "c" * 81}, "invalid_client_id"),
    ("a client id with a newline", lambda w: {"client_id": "a\nb"}, "invalid_client_id"),
]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [(o, c) for _, o, c in BAD_SESSIONS],
    ids=[name for name, _, _ in BAD_SESSIONS],
)
def test_a_bad_session_is_refused_with_its_code_and_writes_nothing(
    world: World, make_session: MakeSession, overrides: Callable[[World], dict[str, Any]], code: str
) -> None:
    arguments = overrides(world)
    before = _counts()
    with pytest.raises(DomainError) as refused:
        make_session(**arguments)
    assert refused.value.code == code
    assert refused.value.http_status == 400
    assert _counts() == before


@pytest.mark.parametrize("who", ["peer", "admin", "evaluator"])
def test_only_supervisors_record_sessions(
    world: World, make_session: MakeSession, who: str
) -> None:
    before = _counts()
    with pytest.raises(DomainError) as refused:
        make_session(recorded_by=getattr(world, who))
    assert (refused.value.code, refused.value.http_status) == ("forbidden", 403)
    assert _counts() == before


def test_a_supervisor_of_another_programme_may_not_record_here(
    world: World, make_session: MakeSession
) -> None:
    outsider = make_staff(make_programme("elsewhere"), Role.SUPERVISOR)
    with pytest.raises(DomainError) as refused:
        make_session(recorded_by=outsider, supervisor=outsider)
    assert refused.value.code == "forbidden"
    assert not SupervisionSession.objects.exists()


def test_the_session_is_led_by_a_supervisor_of_the_programme(
    world: World, make_session: MakeSession
) -> None:
    with pytest.raises(DomainError) as refused:
        make_session(supervisor=world.other_peer)
    assert refused.value.code == "not_a_supervisor"
    assert not SupervisionSession.objects.exists()


def test_error_messages_carry_no_note_text(world: World, make_session: MakeSession) -> None:
    marker = _marker()
    with pytest.raises(DomainError) as refused:
        make_session(notes=marker, peer_supporter_ids=[])
    assert marker not in str(refused.value)
    assert marker not in refused.value.message
