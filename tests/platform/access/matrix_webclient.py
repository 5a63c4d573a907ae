"""Role matrix rows for the reference web client's pages (merged by
test_role_endpoint_matrix.py). A page someone may not use sends them to a sign-in page (302)
and shows no data; the data itself is the API's, with its own rows."""

from __future__ import annotations

from tests.support.role_matrix import Case, everyone

ROWS: dict[tuple[str, str], Case] = {
    ("webclient-home", "GET"): Case(
        "GET", lambda w: "/", {**everyone(302), "anonymous": 200, "evaluator": 200}
    ),
    ("webclient-signin", "GET"): Case("GET", lambda w: "/signin/", everyone(200)),
    ("webclient-staff-signin", "GET"): Case("GET", lambda w: "/staff/signin/", everyone(200)),
    ("webclient-chat", "GET"): Case(
        "GET", lambda w: "/chat/", {**everyone(302), "service_user": 200}
    ),
    ("webclient-inbox", "GET"): Case(
        "GET",
        lambda w: "/inbox/",
        {**everyone(200), "anonymous": 302, "service_user": 302, "evaluator": 302},
    ),
    ("webclient-supervisor", "GET"): Case(
        "GET", lambda w: "/supervisor/", {**everyone(302), "supervisor": 200, "admin": 200}
    ),
}
