"""The reference web client's pages. Each view only decides who may see the page and hands
the page the little it needs to start (its role and programme); everything else the page's
script reads from the public API and the WebSocket, as a client written elsewhere would.

Not signed in, or signed in with the wrong role: the page's sign-in form, never data."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from people.models import User
from programmes.models import Role, StaffRole

SIGN_IN = {"participant": "webclient-signin", "staff": "webclient-staff-signin"}


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def _roles(user: User | None) -> dict[str, list[str]]:
    """The caller's programmes by role, in one query: role -> slugs."""
    if user is None or user.is_participant:
        return {}
    roles: dict[str, list[str]] = {}
    for slug, role in (
        StaffRole.objects.filter(user=user)
        .order_by("programme__slug")
        .values_list("programme__slug", "role")
    ):
        roles.setdefault(role, []).append(slug)
    return roles


def _with(roles: dict[str, list[str]], *wanted: str) -> list[str]:
    return sorted({slug for role in wanted for slug in roles.get(role, [])})


# Every page is sent with never_cache (no-store: conversations and alerts are never kept by a
# cache); SecurityMiddleware's Referrer-Policy (same-origin) keeps addresses on this site.
def _page(request: HttpRequest, template: str, **context: Any) -> HttpResponse:
    return render(request, f"webclient/{template}", context)


def _start_page(user: User) -> str | None:
    """Where a signed-in person works; None for roles without a page here (evaluators use
    the export API and command)."""
    if user.is_participant:
        return reverse("webclient-chat")
    roles = _roles(user)
    if _with(roles, Role.SUPERVISOR, Role.ADMIN):
        return reverse("webclient-supervisor")
    if _with(roles, Role.PEER_SUPPORTER):
        return reverse("webclient-inbox")
    return None


@never_cache
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    start = _start_page(user) if user is not None else None
    if start is not None:
        return HttpResponseRedirect(start)
    return _page(request, "home.html", page="home", signed_in=user is not None)


@never_cache
@ensure_csrf_cookie
def signin(request: HttpRequest) -> HttpResponse:
    return _page(request, "signin.html", page="signin")


@never_cache
@ensure_csrf_cookie
def staff_signin(request: HttpRequest) -> HttpResponse:
    return _page(request, "staff_signin.html", page="staff-signin")


def _refer_to_sign_in(request: HttpRequest, kind: str) -> HttpResponse:
    return HttpResponseRedirect(f"{reverse(SIGN_IN[kind])}?next={request.path}")


@never_cache
@ensure_csrf_cookie
def chat(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user is None or not user.is_participant:
        return _refer_to_sign_in(request, "participant")
    return _page(request, "chat.html", page="chat", viewer=user.pk)


@never_cache
@ensure_csrf_cookie
def inbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    roles = _roles(user)
    programmes = _with(roles, Role.PEER_SUPPORTER, Role.SUPERVISOR, Role.ADMIN)
    if user is None or not programmes:
        return _refer_to_sign_in(request, "staff")
    return _page(
        request,
        "inbox.html",
        page="inbox",
        viewer=user.pk,
        programmes=programmes,
        is_peer=bool(_with(roles, Role.PEER_SUPPORTER)),
        is_supervisor=bool(_with(roles, Role.SUPERVISOR, Role.ADMIN)),
    )


@never_cache
@ensure_csrf_cookie
def supervisor(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    programmes = _with(_roles(user), Role.SUPERVISOR, Role.ADMIN)
    if user is None or not programmes:
        return _refer_to_sign_in(request, "staff")
    return _page(
        request, "supervisor.html", page="supervisor", viewer=user.pk, programmes=programmes
    )
