"""`make run` and a browser are enough: the printed demo logins open each role's page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer, screenshot
from tests.browser.pages import assert_accessible, sign_in_service_user, sign_in_staff

PASSWORD = re.compile(r"Demo logins \(password for all: (\S+)\)")
WEB_CHAT = re.compile(r"service user: open (\S+)/signin/ and sign in with (\+\d+)")


def test_the_printed_supervisor_login_opens_alerts_workload_and_waiting_queue(
    demo_server: DemoServer, new_context: Any
) -> None:
    password = PASSWORD.search(demo_server.seed_output)
    assert password, demo_server.seed_output
    page = sign_in_staff(
        new_context(),
        demo_server,
        "demo-supervisor",
        lands_on="/supervisor/",
        password=password.group(1),
    )

    rows = page.locator("#workload tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_role("rowheader")).to_have_text(re.compile("Jordan|Riley"))
    expect(page.locator("#waiting-count")).to_have_text(re.compile(r"\(\d+\)"))
    assert_accessible(page)
    screenshot(page, "supervisor-workload")


def test_the_printed_peer_supporter_login_opens_their_caseload(
    demo_server: DemoServer, new_context: Any
) -> None:
    password = PASSWORD.search(demo_server.seed_output)
    assert password
    page = sign_in_staff(
        new_context(), demo_server, "demo-peer1", lands_on="/inbox/", password=password.group(1)
    )

    expect(page.locator("#duty")).to_have_text(re.compile("On duty|Off duty"))
    # Arms are drawn at random: the caseload is listed, or said to be empty.
    page.wait_for_function(
        "document.querySelector('#conversations li') !== null"
        " || !document.getElementById('caseload-empty').hidden"
    )
    assert_accessible(page)


def test_the_printed_service_user_signs_in_by_sms_code(
    demo_server: DemoServer, new_context: Any
) -> None:
    printed = WEB_CHAT.search(demo_server.seed_output)
    assert printed, demo_server.seed_output
    assert printed.group(1) == demo_server.url
    page = sign_in_service_user(new_context(), demo_server, printed.group(2))

    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Chat with "))
    expect(page.locator("#messages li.message")).not_to_have_count(0)
    assert_accessible(page)


def test_the_sign_in_pages_pass_the_accessibility_check(
    demo_server: DemoServer, new_context: Any
) -> None:
    page = new_context().new_page()
    for path, name in (("/", "home"), ("/signin/", "sign-in"), ("/staff/signin/", "staff-sign-in")):
        page.goto(path)
        assert_accessible(page)
        screenshot(page, name)


def test_a_wrong_sign_in_code_is_refused_with_a_clear_error(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    page = new_context().new_page()
    page.goto("/signin/")
    page.get_by_label("Mobile number").fill(world["phone"])
    page.get_by_role("button", name="Text me a code").click()
    page.get_by_label("Sign-in code").fill("000000")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#code-error")).to_be_visible()
    expect(page).to_have_url(f"{demo_server.url}/signin/")
    page.goto("/chat/")
    expect(page).to_have_url(f"{demo_server.url}/signin/?next=/chat/")
