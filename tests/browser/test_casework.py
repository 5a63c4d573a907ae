"""A peer supporter's tools beside the conversation: saved replies and case notes."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer
from tests.browser.pages import bodies, send, sign_in_staff

# A saved reply is made through the API, as another client (or the admin) would make it.
CREATE_SAVED_REPLY = """async ([programme, title, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const response = await fetch("/api/v1/saved-replies/", {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRFToken": token},
    body: JSON.stringify({programme, title, body}),
  });
  return response.status;
}"""


def _peer_in_conversation(demo_server: DemoServer, new_context: Any) -> tuple[dict[str, Any], Any]:
    world = demo_server.world()
    peer = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    peer.get_by_role("button", name="Web Chat Person").click()
    expect(peer.get_by_role("heading", name="Web Chat Person")).to_be_visible()
    return world, peer


def test_a_saved_reply_is_inserted_into_the_message_box_and_sent(
    demo_server: DemoServer, new_context: Any
) -> None:
    world, peer = _peer_in_conversation(demo_server, new_context)
    reply = "Try naming five things you can see around you."
    status = peer.evaluate(CREATE_SAVED_REPLY, [world["programme"], "Grounding", reply])
    assert status == 201
    peer.reload()

    peer.get_by_label("Saved reply").select_option(label="Grounding")
    peer.get_by_role("button", name="Insert").click()
    expect(peer.get_by_label("Your message")).to_have_value(reply)
    peer.get_by_role("button", name="Send").click()

    expect(peer.locator("#messages li.own:not(.pending)")).to_have_count(1)
    assert bodies(peer) == [reply]


def test_a_case_note_is_saved_and_listed_again_after_a_reload(
    demo_server: DemoServer, new_context: Any
) -> None:
    _world, peer = _peer_in_conversation(demo_server, new_context)
    send(peer, "How was the appointment?")
    peer.locator("#notes-panel summary").click()

    peer.get_by_label("New case note").fill("Discussed the follow-up appointment; went well.")
    peer.get_by_role("button", name="Save note").click()
    expect(peer.locator("#notes li")).to_have_count(1)
    peer.reload()
    peer.locator("#notes-panel summary").click()

    expect(peer.locator("#notes li")).to_have_count(1)
    expect(peer.locator("#notes li")).to_contain_text("follow-up appointment")
