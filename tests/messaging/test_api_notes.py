"""GET/POST /api/v1/conversations/{id}/notes/: case notes for the assigned peer supporter and
supervisors who may read the conversation; encrypted at rest; every listing audited."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from messaging.models import CaseNote, Conversation
from messaging.services import add_case_note
from programmes.models import HandoffReason, Role, StaffRole
from programmes.services import assign_peer_supporter
from tests.support.factories import World, enrol, signed_in_client

pytestmark = pytest.mark.django_db


def _conversation(world: World) -> Conversation:
    return Conversation.objects.get(enrolment=world.own)


def _url(conversation: Conversation | str) -> str:
    pk = conversation.pk if isinstance(conversation, Conversation) else conversation
    return f"/api/v1/conversations/{pk}/notes/"


def _write(user: Any, conversation: Conversation, body: Any) -> Any:
    return signed_in_client(user).post(
        _url(conversation), {"body": body}, content_type="application/json"
    )


def test_the_assigned_peer_supporter_writes_and_reads_notes(world: World) -> None:
    conversation = _conversation(world)
    created = _write(world.peer, conversation, "Agreed to talk again on Friday.")
    assert created.status_code == 201
    note = created.json()
    assert note["body"] == "Agreed to talk again on Friday."
    assert note["author"]["id"] == world.peer.id
    listed = signed_in_client(world.peer).get(_url(conversation))
    assert listed.status_code == 200
    assert [n["id"] for n in listed.json()] == [note["id"]]


def test_notes_are_listed_newest_first(world: World) -> None:
    conversation = _conversation(world)
    for body in ["first", "second", "third"]:
        add_case_note(conversation=conversation, author=world.peer, body=body)
    bodies = [n["body"] for n in signed_in_client(world.peer).get(_url(conversation)).json()]
    assert bodies == ["third", "second", "first"]


def test_the_teams_supervisor_reads_and_writes_notes(world: World) -> None:
    conversation = _conversation(world)
    add_case_note(conversation=conversation, author=world.peer, body="from the peer")
    assert _write(world.supervisor, conversation, "from supervision").status_code == 201
    bodies = {n["body"] for n in signed_in_client(world.supervisor).get(_url(conversation)).json()}
    assert bodies == {"from the peer", "from supervision"}


def test_a_supervisor_keeps_notes_on_the_waiting_queue(world: World) -> None:
    waiting = Conversation.objects.get(enrolment=enrol(world.programme, by=world.admin))
    assert _write(world.supervisor, waiting, "waiting for a peer").status_code == 201


def test_the_service_user_never_sees_notes(world: World) -> None:
    conversation = _conversation(world)
    add_case_note(conversation=conversation, author=world.peer, body="staff only")
    person = world.own.participant.user
    assert signed_in_client(person).get(_url(conversation)).status_code == 403
    assert _write(person, conversation, "let me in").status_code == 403
    assert CaseNote.objects.count() == 1


def test_a_service_user_holding_a_staff_role_still_never_sees_notes_about_themself(
    world: World,
) -> None:
    # The services refuse staff roles to service users; this checks the notes rule holds even
    # if such a row exists (written around the services).
    person = world.own.participant.user
    StaffRole.objects.create(user=person, programme=world.programme, role=Role.SUPERVISOR)
    conversation = _conversation(world)
    assert signed_in_client(person).get(_url(conversation)).status_code == 404
    assert _write(person, conversation, "about me").status_code == 404


@pytest.mark.parametrize("who", ["other_peer", "admin"])
def test_staff_who_may_not_read_the_conversation_get_not_found(world: World, who: str) -> None:
    conversation = _conversation(world)
    client = signed_in_client(getattr(world, who))
    assert client.get(_url(conversation)).status_code == 404
    assert _write(getattr(world, who), conversation, "x").status_code == 404
    assert not CaseNote.objects.exists()


def test_evaluators_are_refused(world: World) -> None:
    assert signed_in_client(world.evaluator).get(_url(_conversation(world))).status_code == 403


def test_an_unknown_conversation_answers_like_a_hidden_one(world: World) -> None:
    hidden = signed_in_client(world.other_peer).get(_url(_conversation(world)))
    unknown = signed_in_client(world.other_peer).get(_url(str(uuid.uuid4())))
    assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json())


def test_a_peer_loses_the_notes_after_a_handoff(world: World) -> None:
    conversation = _conversation(world)
    add_case_note(conversation=conversation, author=world.peer, body="handover")
    assign_peer_supporter(
        enrolment=world.own,
        peer_supporter=world.other_peer,
        assigned_by=world.supervisor,
        reason=HandoffReason.LEAVE,
    )
    assert signed_in_client(world.peer).get(_url(conversation)).status_code == 404
    assert [
        n["body"] for n in signed_in_client(world.other_peer).get(_url(conversation)).json()
    ] == ["handover"]


def test_every_listing_is_audited(world: World) -> None:
    conversation = _conversation(world)
    add_case_note(conversation=conversation, author=world.peer, body="one")
    signed_in_client(world.peer).get(_url(conversation))
    signed_in_client(world.supervisor).get(_url(conversation))
    entries = AuditEntry.objects.filter(action="case_notes.read").order_by("id")
    assert [(e.actor_id, e.target_id, e.details) for e in entries] == [
        (world.peer.id, str(conversation.id), {"count": 1}),
        (world.supervisor.id, str(conversation.id), {"count": 1}),
    ]


def test_writing_a_note_is_audited(world: World) -> None:
    note = _write(world.peer, _conversation(world), "audited").json()
    assert AuditEntry.objects.filter(action="case_note.created", target_id=note["id"]).exists()


def test_notes_are_encrypted_at_rest(world: World, raw_database_bytes: Any) -> None:
    conversation = _conversation(world)
    marker = "Zanzibar-quokka-" + uuid.uuid4().hex
    assert _write(world.peer, conversation, marker).status_code == 201
    stored = bytes(CaseNote.objects.get().body_ciphertext)
    assert marker.encode() not in stored
    assert marker.encode() not in raw_database_bytes()


@pytest.mark.parametrize(
    ("body", "code"),
    [("", "invalid"), ("   ", "empty_body"), ("x" * 4001, "invalid"), (None, "invalid")],
)
def test_bad_notes_are_refused_and_write_nothing(world: World, body: Any, code: str) -> None:
    response = _write(world.peer, _conversation(world), body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not CaseNote.objects.exists()
    assert not AuditEntry.objects.filter(action="case_note.created").exists()


def test_a_note_of_4000_characters_is_accepted(world: World) -> None:
    assert _write(world.peer, _conversation(world), "n" * 4000).status_code == 201


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.dictionaries(
            st.sampled_from(["body", "other"]),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.text(max_size=50),
                st.text(min_size=3990, max_size=4010, alphabet="ab "),
                st.sampled_from(["\x00", "a\ud800b", "\u200b", " \n\t "]),
                st.lists(st.text(max_size=3), max_size=2),
            ),
            max_size=2,
        ),
        st.lists(st.text(max_size=3), max_size=2),
        st.text(max_size=10),
    )
)
def test_random_note_bodies_never_cause_a_server_error_or_a_partial_write(
    world: World, body: Any
) -> None:
    conversation = _conversation(world)
    notes_before = CaseNote.objects.count()
    audits_before = AuditEntry.objects.filter(action="case_note.created").count()
    response = signed_in_client(world.peer).post(
        _url(conversation), body, content_type="application/json"
    )
    assert response.status_code in (201, 400), response.content[:300]
    written = 1 if response.status_code == 201 else 0
    assert CaseNote.objects.count() - notes_before == written
    assert AuditEntry.objects.filter(action="case_note.created").count() - audits_before == written
