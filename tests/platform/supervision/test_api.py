"""The supervision endpoints: who may do what (DESIGN.md §5), error codes a client can act on,
idempotent retries, audited reads of session notes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from audit.models import AuditEntry
from supervision.models import FidelityCheck, FidelityChecklist, SupervisionSession, TrainingRecord
from supervision.services import record_fidelity_check, record_training
from tests.platform.supervision.helpers import TODAY, full_scores
from tests.support.factories import World, make_programme, signed_in_client

pytestmark = pytest.mark.django_db

MakeSession = Callable[..., SupervisionSession]
SESSIONS = "/api/v1/supervision/sessions/"
CHECKLISTS = "/api/v1/supervision/checklists/"
TRAINING = "/api/v1/supervision/training/"


@pytest.fixture(autouse=True)
def _clock(frozen_now: Any) -> None:
    """Every test here runs on 2026-03-10 in the programme's time zone."""


def _post(user: Any, url: str, body: Any) -> Any:
    return signed_in_client(user).post(url, body, content_type="application/json")


def _get(user: Any, url: str) -> Any:
    return signed_in_client(user).get(url)


def _session_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "programme": world.programme.slug,
        "client_id": "tablet-1",
        "held_on": TODAY.isoformat(),
        "kind": "individual",
        "duration_minutes": 45,
        "peer_supporters": [world.peer.id],
        "notes": "Talked about pacing.",
        **overrides,
    }


def _detail(session: SupervisionSession | str) -> str:
    pk = session.pk if isinstance(session, SupervisionSession) else session
    return f"{SESSIONS}{pk}/"


def _fidelity(session: SupervisionSession) -> str:
    return f"{SESSIONS}{session.pk}/fidelity/"


def _error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) >= {"code", "message"}
    return response.status_code, body["code"]


# Sessions ---------------------------------------------------------------------------------


def test_a_supervisor_records_a_session(world: World) -> None:
    response = _post(world.supervisor, SESSIONS, _session_body(world))
    assert response.status_code == 201
    body = response.json()
    session = SupervisionSession.objects.get()
    assert body["id"] == str(session.pk)
    assert body["supervisor"] == {"id": world.supervisor.id, "display_name": "Supervisor"}
    assert [p["id"] for p in body["peer_supporters"]] == [world.peer.id]
    assert (body["held_on"], body["kind"], body["duration_minutes"]) == (
        "2026-03-10",
        "individual",
        45,
    )
    assert "notes" not in body


def test_a_retried_post_returns_the_first_session(world: World) -> None:
    first = _post(world.supervisor, SESSIONS, _session_body(world))
    again = _post(world.supervisor, SESSIONS, _session_body(world, duration_minutes=90))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duration_minutes"] == 45
    assert SupervisionSession.objects.count() == 1
    assert AuditEntry.objects.filter(action="supervision_session.recorded").count() == 1


def test_notes_sent_to_the_api_are_stored_encrypted(world: World) -> None:
    marker = "Pangolin-" + uuid.uuid4().hex
    assert _post(world.supervisor, SESSIONS, _session_body(world, notes=marker)).status_code == 201
    assert marker.encode() not in bytes(SupervisionSession.objects.get().notes_ciphertext)


BAD_SESSION_BODIES: list[tuple[str, Callable[[World], dict[str, Any]], str]] = [
    ("held tomorrow", lambda w: {"held_on": "2026-03-11"}, "held_on_in_future"),
    ("no participants", lambda w: {"peer_supporters": []}, "no_participants"),
    (
        "a participant who is not a peer supporter",
        lambda w: {"peer_supporters": [w.evaluator.id]},
        "not_a_peer_supporter",
    ),
    ("too long", lambda w: {"duration_minutes": 600}, "invalid_duration"),
    ("minutes as text", lambda w: {"duration_minutes": "45"}, "invalid"),
    ("an unknown kind", lambda w: {"kind": "retreat"}, "invalid"),
    ("no date", lambda w: {"held_on": None}, "invalid"),
    ("a malformed date", lambda w: {"held_on": "10/03/2026"}, "invalid"),
    ("no client id", lambda w: {"client_id": ""}, "invalid"),
    ("participants not a list", lambda w: {"peer_supporters": w.peer.id}, "invalid"),
]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [(o, c) for _, o, c in BAD_SESSION_BODIES],
    ids=[n for n, _, _ in BAD_SESSION_BODIES],
)
def test_a_bad_session_gets_a_clear_error_and_writes_nothing(
    world: World, overrides: Callable[[World], dict[str, Any]], code: str
) -> None:
    response = _post(world.supervisor, SESSIONS, _session_body(world, **overrides(world)))
    assert _error(response) == (400, code)
    assert not SupervisionSession.objects.exists()


def test_an_unknown_programme_is_not_found(world: World) -> None:
    response = _post(world.supervisor, SESSIONS, _session_body(world, programme="nowhere"))
    assert _error(response) == (404, "not_found")
    assert _error(_get(world.supervisor, f"{SESSIONS}?programme=nowhere")) == (404, "not_found")


def test_a_programme_the_supervisor_has_no_part_in_answers_like_an_unknown_one(
    world: World,
) -> None:
    make_programme("elsewhere")
    hidden = _post(world.supervisor, SESSIONS, _session_body(world, programme="elsewhere"))
    unknown = _post(world.supervisor, SESSIONS, _session_body(world, programme="nowhere"))
    assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json())


def test_the_session_list_needs_a_programme(world: World) -> None:
    assert _error(_get(world.supervisor, SESSIONS)) == (400, "invalid")


@pytest.mark.parametrize(
    ("who", "code"),
    [("peer", "forbidden"), ("admin", "permission_denied"), ("evaluator", "permission_denied")],
)
def test_only_supervisors_record_sessions(world: World, who: str, code: str) -> None:
    response = _post(getattr(world, who), SESSIONS, _session_body(world))
    assert _error(response) == (403, code)
    assert not SupervisionSession.objects.exists()


def test_a_peer_is_refused_before_the_body_is_read(world: World) -> None:
    response = _post(world.peer, SESSIONS, {"programme": world.programme.slug})
    assert _error(response) == (403, "forbidden")


def test_a_service_user_is_refused(world: World) -> None:
    person = world.own.participant.user
    assert _post(person, SESSIONS, _session_body(world)).status_code == 403
    assert _get(person, f"{SESSIONS}?programme={world.programme.slug}").status_code == 403


def test_the_list_shows_a_peer_their_sessions_without_notes(
    world: World, make_session: MakeSession
) -> None:
    mine = make_session(peer_supporter_ids=[world.peer.id])
    make_session(peer_supporter_ids=[world.other_peer.id])
    rows = _get(world.peer, f"{SESSIONS}?programme={world.programme.slug}").json()
    assert [row["id"] for row in rows] == [str(mine.pk)]
    assert all("notes" not in row for row in rows)
    assert not AuditEntry.objects.filter(action="supervision_session.read").exists()


def test_the_list_shows_a_supervisor_every_session(world: World, make_session: MakeSession) -> None:
    sessions = {make_session(peer_supporter_ids=[p.id]).pk for p in (world.peer, world.other_peer)}
    rows = _get(world.supervisor, f"{SESSIONS}?programme={world.programme.slug}").json()
    assert {uuid.UUID(row["id"]) for row in rows} == sessions


@pytest.mark.parametrize("who", ["supervisor", "peer"])
def test_the_detail_shows_the_notes_and_audits_the_read(
    world: World, make_session: MakeSession, who: str
) -> None:
    session = make_session(notes="Kept the evenings free.")
    reader = getattr(world, who)
    response = _get(reader, _detail(session))
    assert response.status_code == 200
    assert response.json()["notes"] == "Kept the evenings free."
    entry = AuditEntry.objects.get(action="supervision_session.read")
    assert (entry.actor_id, entry.target_id) == (reader.id, str(session.pk))
    assert "Kept" not in str(entry.details)


def test_a_peer_who_was_not_there_gets_not_found(world: World, make_session: MakeSession) -> None:
    session = make_session()
    hidden = _get(world.other_peer, _detail(session))
    unknown = _get(world.other_peer, _detail(str(uuid.uuid4())))
    assert _error(hidden) == (404, "not_found")
    assert (hidden.status_code, hidden.json()) == (unknown.status_code, unknown.json())
    assert not AuditEntry.objects.filter(action="supervision_session.read").exists()


def test_programme_admins_do_not_read_session_notes(
    world: World, make_session: MakeSession
) -> None:
    session = make_session()
    assert _error(_get(world.admin, _detail(session))) == (403, "permission_denied")
    assert _get(world.admin, f"{SESSIONS}?programme={world.programme.slug}").status_code == 403
    assert not AuditEntry.objects.filter(action="supervision_session.read").exists()


def test_evaluators_get_nothing(world: World, make_session: MakeSession) -> None:
    session = make_session()
    for url in (
        f"{SESSIONS}?programme={world.programme.slug}",
        _detail(session),
        _fidelity(session),
        f"{CHECKLISTS}?programme={world.programme.slug}",
        f"{TRAINING}?programme={world.programme.slug}",
    ):
        assert _get(world.evaluator, url).status_code == 403, url


# Fidelity ---------------------------------------------------------------------------------


def _fidelity_body(world: World, checklist: FidelityChecklist, **overrides: Any) -> dict[str, Any]:
    return {
        "peer_supporter": world.peer.id,
        "checklist": checklist.pk,
        "scores": full_scores(),
        **overrides,
    }


def test_the_sessions_supervisor_records_a_fidelity_check(
    world: World, make_session: MakeSession, checklist: FidelityChecklist
) -> None:
    session = make_session()
    response = _post(world.supervisor, _fidelity(session), _fidelity_body(world, checklist))
    assert response.status_code == 201
    body = response.json()
    assert (body["total"], body["max_total"], body["percentage"]) == (6, 8, 75.0)
    assert body["checklist"] == {"id": checklist.pk, "name": "Core practice", "version": 1}
    assert [(s["item"], s["score"]) for s in body["scores"]] == [
        ("listening", 2),
        ("boundaries", 1),
        ("hope", 3),
    ]


def test_a_retried_fidelity_check_returns_the_first(
    world: World, make_session: MakeSession, checklist: FidelityChecklist
) -> None:
    session = make_session()
    first = _post(world.supervisor, _fidelity(session), _fidelity_body(world, checklist))
    again = _post(world.supervisor, _fidelity(session), _fidelity_body(world, checklist))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_a_second_opinion_on_a_recorded_check_is_a_conflict(
    world: World, make_session: MakeSession, checklist: FidelityChecklist
) -> None:
    session = make_session()
    _post(world.supervisor, _fidelity(session), _fidelity_body(world, checklist))
    response = _post(
        world.supervisor,
        _fidelity(session),
        _fidelity_body(world, checklist, scores=full_scores(hope=0)),
    )
    assert _error(response) == (409, "fidelity_already_recorded")


@pytest.mark.parametrize(
    ("scores", "code"),
    [
        (full_scores(listening=3), "score_out_of_range"),
        (full_scores()[:2], "missing_item"),
        ([*full_scores(), {"item": "empathy", "score": 1}], "unknown_item"),
        ([*full_scores(), {"item": "hope", "score": 1}], "duplicate_item"),
        (full_scores(hope="3"), "invalid_score"),  # type: ignore[arg-type]
        ("all good", "invalid"),
    ],
    ids=["out of range", "missing", "unknown", "twice", "text", "not a list"],
)
def test_bad_scores_get_a_clear_error_and_write_nothing(
    world: World, make_session: MakeSession, checklist: FidelityChecklist, scores: Any, code: str
) -> None:
    session = make_session()
    response = _post(
        world.supervisor, _fidelity(session), _fidelity_body(world, checklist, scores=scores)
    )
    assert _error(response) == (400, code)
    assert not FidelityCheck.objects.exists()


def test_a_participant_may_not_score_their_own_session(
    world: World, make_session: MakeSession, checklist: FidelityChecklist
) -> None:
    session = make_session()
    response = _post(world.peer, _fidelity(session), _fidelity_body(world, checklist))
    assert _error(response) == (403, "not_session_supervisor")
    assert not FidelityCheck.objects.exists()


def test_a_peer_reads_their_own_fidelity_checks_only(
    world: World, make_session: MakeSession, checklist: FidelityChecklist
) -> None:
    session = make_session(kind="group", peer_supporter_ids=[world.peer.id, world.other_peer.id])
    for peer in (world.peer, world.other_peer):
        record_fidelity_check(
            session=session,
            peer_supporter_id=peer.id,
            checklist_id=checklist.pk,
            scores=full_scores(),
            recorded_by=world.supervisor,
        )
    own = _get(world.peer, _fidelity(session)).json()
    assert [c["peer_supporter"]["id"] for c in own] == [world.peer.id]
    every = _get(world.supervisor, _fidelity(session)).json()
    assert {c["peer_supporter"]["id"] for c in every} == {world.peer.id, world.other_peer.id}


# Checklists -------------------------------------------------------------------------------


def test_supervisors_see_the_active_checklists_with_their_items(
    world: World, checklist: FidelityChecklist
) -> None:
    rows = _get(world.supervisor, f"{CHECKLISTS}?programme={world.programme.slug}").json()
    assert [(r["id"], r["version"], r["max_total"]) for r in rows] == [(checklist.pk, 1, 8)]
    assert [i["key"] for i in rows[0]["items"]] == ["listening", "boundaries", "hope"]


def test_admins_may_list_retired_versions_too(world: World, checklist: FidelityChecklist) -> None:
    from supervision.services import new_checklist_version

    new = new_checklist_version(checklist=checklist, created_by=world.admin)
    url = f"{CHECKLISTS}?programme={world.programme.slug}"
    assert [r["id"] for r in _get(world.admin, url).json()] == [new.pk]
    every = _get(world.admin, url + "&include_inactive=true").json()
    assert [(r["version"], r["active"]) for r in every] == [(2, True), (1, False)]


def test_peer_supporters_do_not_list_checklists(world: World, checklist: FidelityChecklist) -> None:
    response = _get(world.peer, f"{CHECKLISTS}?programme={world.programme.slug}")
    assert response.status_code == 403


# Training ---------------------------------------------------------------------------------


def _training_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "programme": world.programme.slug,
        "user": world.peer.id,
        "course_code": "PS-101",
        "course_title": "Foundations of peer support",
        "completed_on": "2025-05-01",
        "certified_until": "2027-05-01",
        **overrides,
    }


def test_an_admin_records_training(world: World) -> None:
    response = _post(world.admin, TRAINING, _training_body(world))
    assert response.status_code == 201
    body = response.json()
    assert (body["user"]["id"], body["course_code"], body["certified_until"]) == (
        world.peer.id,
        "PS-101",
        "2027-05-01",
    )
    assert body["expires_in_days"] == (dt.date(2027, 5, 1) - TODAY).days


def test_a_retried_training_record_changes_nothing(world: World) -> None:
    first = _post(world.admin, TRAINING, _training_body(world))
    again = _post(world.admin, TRAINING, _training_body(world))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert TrainingRecord.objects.count() == 1


def test_training_without_expiry_may_leave_it_out(world: World) -> None:
    body = _training_body(world)
    del body["certified_until"]
    response = _post(world.admin, TRAINING, body)
    assert response.status_code == 201
    assert response.json()["certified_until"] is None


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"certified_until": "2025-04-01"}, 400, "expiry_before_completion"),
        ({"completed_on": "2026-03-11", "certified_until": None}, 400, "completed_in_future"),
        ({"course_code": "PS 101"}, 400, "invalid_course_code"),
        ({"user": 10**9}, 400, "not_peer_supporter_or_supervisor"),
        ({"completed_on": "yesterday"}, 400, "invalid"),
        ({"programme": "nowhere"}, 404, "not_found"),
    ],
    ids=["expiry first", "future", "course code", "unknown user", "malformed date", "programme"],
)
def test_bad_training_gets_a_clear_error_and_writes_nothing(
    world: World, overrides: dict[str, Any], status: int, code: str
) -> None:
    response = _post(world.admin, TRAINING, _training_body(world, **overrides))
    assert _error(response) == (status, code)
    assert not TrainingRecord.objects.exists()


@pytest.mark.parametrize("who", ["supervisor", "peer"])
def test_only_admins_record_training(world: World, who: str) -> None:
    assert _error(_post(getattr(world, who), TRAINING, _training_body(world))) == (403, "forbidden")
    assert not TrainingRecord.objects.exists()


def _record(world: World, user: Any, code: str, until: dt.date | None) -> None:
    record_training(
        programme=world.programme,
        user_id=user.id,
        course_code=code,
        course_title="A course",
        completed_on=dt.date(2024, 6, 1),
        certified_until=until,
        recorded_by=world.admin,
    )


def test_supervisors_list_who_must_renew(world: World) -> None:
    _record(world, world.peer, "EXPIRED", TODAY - dt.timedelta(days=10))
    _record(world, world.other_peer, "SOON", TODAY + dt.timedelta(days=20))
    _record(world, world.other_peer, "LATER", TODAY + dt.timedelta(days=90))
    _record(world, world.peer, "FOREVER", None)
    url = f"{TRAINING}?programme={world.programme.slug}&expiring_within_days=30"
    rows = _get(world.supervisor, url).json()
    assert [(r["course_code"], r["user"]["id"], r["expires_in_days"]) for r in rows] == [
        ("EXPIRED", world.peer.id, -10),
        ("SOON", world.other_peer.id, 20),
    ]
    everything = _get(world.supervisor, f"{TRAINING}?programme={world.programme.slug}").json()
    assert len(everything) == 4


def test_a_peer_lists_only_their_own_training(world: World) -> None:
    _record(world, world.peer, "MINE", None)
    _record(world, world.other_peer, "THEIRS", None)
    rows = _get(world.peer, f"{TRAINING}?programme={world.programme.slug}").json()
    assert [r["course_code"] for r in rows] == ["MINE"]


@pytest.mark.parametrize("days", ["-1", "3651", "soon"])
def test_a_bad_expiry_window_is_refused(world: World, days: str) -> None:
    url = f"{TRAINING}?programme={world.programme.slug}&expiring_within_days={days}"
    assert _error(_get(world.supervisor, url)) == (400, "invalid")


@pytest.mark.parametrize("field", ["peer_supporter", "checklist"])
def test_ids_beyond_the_databases_range_are_refused_cleanly(
    world: World, make_session: MakeSession, checklist: FidelityChecklist, field: str
) -> None:
    session = make_session()
    body = {**_fidelity_body(world, checklist), field: 2**70}
    response = _post(world.supervisor, _fidelity(session), body)
    assert response.status_code == 400
    assert not FidelityCheck.objects.exists()


def test_a_participant_id_beyond_the_databases_range_is_refused_cleanly(world: World) -> None:
    response = _post(
        world.supervisor, SESSIONS, _session_body(world, kind="group", peer_supporters=[2**70])
    )
    assert _error(response) == (400, "not_a_peer_supporter")
    assert not SupervisionSession.objects.exists()


def test_a_trainee_id_beyond_the_databases_range_is_refused_cleanly(world: World) -> None:
    response = _post(world.admin, TRAINING, _training_body(world, user=2**70))
    assert _error(response) == (400, "not_peer_supporter_or_supervisor")
