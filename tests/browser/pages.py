"""What a person does in the browser, step by step, and the accessibility check every page
passes (axe-core, run inside the page, WCAG 2.1 A and AA rules)."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import STAFF_PASSWORD, DemoServer

AXE = Axe()
WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


def assert_accessible(page: Any) -> None:
    results = AXE.run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()


def sign_in_service_user(
    context: Any, server: DemoServer, phone: str, *, page: Any | None = None
) -> Any:
    """The sign-in page: the number, then the code the console printed (as `make run` shows)."""
    page = page or context.new_page()
    page.goto("/chat/")
    expect(page).to_have_url(f"{server.url}/signin/?next=/chat/")
    page.get_by_label("Mobile number").fill(phone)
    console_before = len(server.console_text())
    page.get_by_role("button", name="Text me a code").click()
    code_box = page.get_by_label("Sign-in code")
    expect(code_box).to_be_visible()
    code_box.fill(server.sign_in_code(after=console_before))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/chat/")
    expect(page.locator("body")).to_have_attribute("data-connection", "live")
    return page


def signed_in_service_user(
    context: Any, server: DemoServer, user_id: int, *, page: Any | None = None
) -> Any:
    """The chat page with a session made for the person (sign-in codes are rate limited per
    address; signing in itself is tested by sign_in_service_user's callers)."""
    context.add_cookies(
        [{"name": "sessionid", "value": server.session_key(user_id), "url": server.url}]
    )
    page = page or context.new_page()
    page.goto("/chat/")
    expect(page).to_have_url(f"{server.url}/chat/")
    expect(page.locator("body")).to_have_attribute("data-connection", "live")
    return page


def sign_in_staff(
    context: Any,
    server: DemoServer,
    username: str,
    *,
    lands_on: str,
    password: str = STAFF_PASSWORD,
) -> Any:
    page = context.new_page()
    page.goto("/staff/signin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}{lands_on}")
    expect(page.locator("body")).to_have_attribute("data-connection", "live")
    return page


def send(page: Any, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_role("button", name="Send").click()


def messages(page: Any) -> Any:
    """The thread's delivered messages (pending ones are not counted until acknowledged)."""
    return page.locator("#messages li.message:not(.pending)")


def bodies(page: Any) -> list[str]:
    return [text.strip() for text in messages(page).locator(".body").all_inner_texts()]
