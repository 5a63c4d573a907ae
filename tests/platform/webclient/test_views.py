"""The reference web client's pages: who lands where, and what a page never carries."""

from __future__ import annotations

import pytest
from django.test import Client

from people.selectors import participant_profile
from tests.support.factories import World, make_world, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.mark.parametrize(
    ("who", "start"),
    [("service_user", "/chat/"), ("peer", "/inbox/"), ("supervisor", "/supervisor/")],
)
def test_signed_in_people_start_on_their_roles_page(world: World, who: str, start: str) -> None:
    user = {
        "service_user": world.own.participant.user,
        "peer": world.peer,
        "supervisor": world.supervisor,
    }[who]

    response = signed_in_client(user).get("/")

    assert response.status_code == 302
    assert response["Location"] == start


def test_a_page_for_another_role_sends_to_its_sign_in_with_the_way_back(world: World) -> None:
    client = signed_in_client(world.own.participant.user)

    response = client.get("/supervisor/")

    assert response.status_code == 302
    assert response["Location"] == "/staff/signin/?next=/supervisor/"


def test_the_service_user_chat_page_sends_strangers_to_the_phone_sign_in() -> None:
    response = Client().get("/chat/")

    assert response["Location"] == "/signin/?next=/chat/"


def test_the_caseload_page_holds_no_personal_data(world: World) -> None:
    """Names, numbers and messages come from the API (audited, role-checked), never the page."""
    profile = participant_profile(world.own.participant)

    response = signed_in_client(world.peer).get("/inbox/")

    html = response.content.decode()
    assert response.status_code == 200
    assert profile.name not in html
    assert profile.phone not in html


def test_pages_are_never_cached(world: World) -> None:
    response = signed_in_client(world.peer).get("/inbox/")

    assert "no-store" in response["Cache-Control"]
    assert "csrftoken" in response.cookies


def test_the_pages_script_and_styles_are_served_by_the_app_server() -> None:
    response = Client().get("/static/webclient/thread.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
