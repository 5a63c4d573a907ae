"""Keyboard-only use: every step of a peer supporter's reply, with a visible focus ring."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer
from tests.browser.pages import bodies, sign_in_staff


def _tab_to(page: Any, selector: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector} has no visible focus"
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_peer_supporter_replies_with_the_keyboard_alone(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    page = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    expect(page.locator("#conversations button")).to_have_count(1)

    _tab_to(page, "#conversations button")
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-title")).to_be_focused()
    _tab_to(page, "#body")
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Control+Enter")

    expect(page.locator("#messages li.own:not(.pending)")).to_have_count(1)
    assert bodies(page) == ["Typed without a mouse."]
    expect(page.locator("#body")).to_be_focused()
