"""Role matrix rows for the survey endpoints of issue 8 and the export jobs (merged by
test_role_endpoint_matrix.py).

- Completion metrics of a programme are aggregate counts, nothing identifiable: its
  supervisors, admins and evaluators read them (DESIGN.md §5: an evaluator sees no
  identifiable data, and this holds none); its peer supporters get 403, as do service users
  and anonymous callers (the permission class wants a programme role).
- A person's surveys and switching one of them to a web link are casework: the person's peer
  supporter, the team's supervisor and the programme's admins; another peer gets 404 (as for
  an enrolment that does not exist); evaluators and service users 403.
- The survey form at /surveys/<token>/ asks for no login: the signed link is the key, so a
  valid token opens the form (GET) and saves (POST) for whoever holds it, signed in or not.
  A bad token is 404 for everyone; that page is HTML, not the API's JSON error shape that
  the matrix test reads, so it is proved in tests/outcomes/test_web_session.py.

- Export jobs (the anonymised evaluator export, downloaded once) are for the programme's
  evaluators and admins. Its other staff get 403 on the programme's exports, and 404 on a
  job (as for a job that does not exist); service users and anonymous callers 403 (the
  permission class wants a programme role). Each role's request is the first download of a
  ready job: the second is tests/outcomes/export/test_export_jobs.py's. The job is the
  evaluator's, and only its requester downloads it: the admin, who sees it, gets 403.

The matrix runs at the real time of day: the survey dispatcher is given the session's own
opening time, so that quiet hours never decide what these rows see."""

from __future__ import annotations

import urllib.parse
from typing import Any

from tests.support.factories import World
from tests.support.role_matrix import Case, casework, everyone


def _with_surveys(world: World, **schedule: Any) -> Any:
    """A baseline PHQ-9 for the programme: `world.own`'s session, planned."""
    from outcomes.models import SurveySession
    from outcomes.services import configure_survey_schedule
    from tests.outcomes.surveys import baseline

    configure_survey_schedule(
        programme=world.programme, changed_by=None, timepoints=baseline("phq9"), **schedule
    )
    return SurveySession.objects.get(enrolment=world.own)


def _metrics_path(world: World) -> str:
    _with_surveys(world)
    return f"/api/v1/programmes/{world.programme.slug}/survey-metrics/"


def _surveys_path(world: World) -> str:
    _with_surveys(world)
    return f"/api/v1/enrolments/{world.own.id}/surveys/"


def _web_link_path(world: World) -> str:
    session = _with_surveys(world)
    return f"/api/v1/survey-sessions/{session.pk}/web-link/"


def _form_path(world: World) -> str:
    """The link texted to `world.own` when their baseline opened (web by the schedule)."""
    from outcomes.dispatch import dispatch_surveys
    from outcomes.links import survey_url
    from outcomes.models import SessionState, SurveyLink

    session = _with_surveys(world, channel_rule="web")
    dispatch_surveys(now=session.next_action_at)
    session.refresh_from_db()
    assert session.state == SessionState.INVITED
    link = SurveyLink.objects.get(session=session)
    return urllib.parse.urlsplit(survey_url(link.pk)).path


def _exports_path(world: World) -> str:
    return f"/api/v1/programmes/{world.programme.slug}/exports/"


def _ready_export(world: World) -> Any:
    """The evaluator's export of the programme, run and ready (nobody has research consent:
    it holds no rows, which is all these rows need)."""
    from outcomes.export.anonymity import DEFAULT_QUASI_IDENTIFIERS
    from outcomes.export.jobs import run_export_job, start_export_job

    job = start_export_job(
        programme=world.programme,
        requested_by=world.evaluator,
        k=5,
        quasi_identifiers=DEFAULT_QUASI_IDENTIFIERS,
        redcap=False,
    )
    assert run_export_job(job_id=job.pk) == "ready"
    return job


def _export_job_path(world: World) -> str:
    return f"/api/v1/exports/{_ready_export(world).pk}/"


def _export_download_path(world: World) -> str:
    return f"/api/v1/exports/{_ready_export(world).pk}/download/"


def _exporters(status: int, *, other_staff: int = 403) -> dict[str, int]:
    return {
        **everyone(403),
        "other_peer": other_staff,
        "own_peer": other_staff,
        "supervisor": other_staff,
        "evaluator": status,
        "admin": status,
    }


def _metrics_readers(status: int) -> dict[str, int]:
    return {**everyone(403), "supervisor": status, "admin": status, "evaluator": status}


ROWS: dict[tuple[str, str], Case] = {
    ("programme-survey-metrics", "GET"): Case("GET", _metrics_path, _metrics_readers(200)),
    ("enrolment-surveys", "GET"): Case("GET", _surveys_path, casework(200)),
    ("survey-session-web-link", "POST"): Case("POST", _web_link_path, casework(200)),
    ("survey-form", "GET"): Case("GET", _form_path, everyone(200)),
    ("survey-form", "POST"): Case("POST", _form_path, everyone(200)),
    ("programme-exports", "GET"): Case("GET", _exports_path, _exporters(200)),
    ("programme-exports", "POST"): Case("POST", _exports_path, _exporters(202)),
    ("export-job", "GET"): Case("GET", _export_job_path, _exporters(200, other_staff=404)),
    ("export-download", "GET"): Case(
        "GET", _export_download_path, {**_exporters(200, other_staff=404), "admin": 403}
    ),
}
