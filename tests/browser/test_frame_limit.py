"""The socket's frame limit (DESIGN.md §5) meets a client with much to catch up: frames it
drops are synced and resent a little later, so nothing written is lost."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer
from tests.browser.pages import bodies, messages, send, signed_in_service_user

# A burst of 3 frames and 2 a second: reconnecting with five pending messages (a sync and
# five sends) runs into it at once.
SERVER_ENV = {"PEERLINK_WS_FRAME_BURST": "3", "PEERLINK_WS_FRAMES_PER_SECOND": "2"}


def test_messages_dropped_by_the_frame_limit_are_sent_later(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    context = new_context(viewport={"width": 360, "height": 740})
    person = signed_in_service_user(context, demo_server, world["participant"])
    context.set_offline(True)
    expect(person.locator("#connection")).to_contain_text("You are offline")
    written = [f"Message {number} written offline" for number in range(1, 6)]
    for text in written:
        send(person, text)

    context.set_offline(False)

    expect(messages(person)).to_have_count(5, timeout=30_000)
    expect(person.locator("#messages li.pending")).to_have_count(0)
    assert bodies(person) == written
