"""A service user and a peer supporter chat in two browser contexts (two people)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer, screenshot
from tests.browser.pages import (
    assert_accessible,
    bodies,
    messages,
    send,
    sign_in_staff,
    signed_in_service_user,
)

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


def _open_conversation(peer_page: Any, name: str) -> None:
    peer_page.get_by_role("button", name=name).click()
    expect(peer_page.get_by_role("heading", name=name)).to_be_visible()


def _chat(
    demo_server: DemoServer, new_context: Any, person_context: Any | None = None
) -> tuple[Any, Any]:
    """A new world: the service user on their chat page (a phone unless `person_context` is
    given), and their peer supporter with the conversation open."""
    world = demo_server.world()
    person = signed_in_service_user(
        person_context or new_context(**PHONE), demo_server, world["participant"]
    )
    peer = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    _open_conversation(peer, "Web Chat Person")
    return person, peer


def test_service_user_and_peer_supporter_chat_both_ways(
    demo_server: DemoServer, new_context: Any
) -> None:
    person, peer = _chat(demo_server, new_context)

    send(person, "Hello, it is my first day home.")
    expect(peer.locator("#messages .body", has_text="my first day home")).to_be_visible()
    send(peer, "Welcome home. How did you sleep?")
    expect(person.locator("#messages .body", has_text="How did you sleep?")).to_be_visible()

    expected = ["Hello, it is my first day home.", "Welcome home. How did you sleep?"]
    assert bodies(person) == expected
    assert bodies(peer) == expected
    own = person.locator("#messages li.own")
    expect(own.locator(".status")).to_have_text("Sent")
    screenshot(person, "service-user-chat")
    screenshot(peer, "peer-supporter-conversation")


def test_a_message_arriving_for_another_conversation_raises_its_unread_count(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    peer = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    row = peer.get_by_role("button", name="Web Chat Person")
    expect(row).to_be_visible()
    expect(row.locator(".badge.web")).to_have_text("Web chat")
    person = signed_in_service_user(new_context(**PHONE), demo_server, world["participant"])

    send(person, "Are you there?")
    send(person, "No rush.")

    expect(row.locator(".badge.unread")).to_have_text("2 unread")
    expect(row.locator(".preview")).to_have_text("No rush.")
    _open_conversation(peer, "Web Chat Person")
    expect(row.locator(".badge.unread")).to_have_count(0)
    screenshot(peer, "peer-supporter-caseload")


def test_a_conversation_opened_before_but_not_on_screen_keeps_its_unread_messages(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    demo_server.another_person(world)
    peer = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    _open_conversation(peer, "Web Chat Person")
    _open_conversation(peer, "Second Person")
    person = signed_in_service_user(new_context(**PHONE), demo_server, world["participant"])

    send(person, "Are you free later?")

    first_row = peer.get_by_role("button", name="Web Chat Person")
    expect(first_row.locator(".badge.unread")).to_have_text("1 unread")
    # The server's count: the hidden conversation did not move the read marker.
    peer.reload()
    expect(first_row.locator(".badge.unread")).to_have_text("1 unread")


def test_a_peer_supporter_sees_the_sms_delivery_status_of_a_reply(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world(sms=True)
    peer = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    row = peer.get_by_role("button", name="Text Message Person")
    expect(row.locator(".badge.sms")).to_have_text("SMS")
    _open_conversation(peer, "Text Message Person")
    expect(peer.locator("#conversation-meta")).to_have_text("Replies reach them by SMS.")

    send(peer, "Thinking of you today.")

    # The console backend hands the text over at once: the status moves on from "waiting".
    status = peer.locator("#messages li.own .status")
    expect(status).to_have_text("SMS: sent")


def test_contact_details_are_held_until_the_peer_supporter_decides(
    demo_server: DemoServer, new_context: Any
) -> None:
    person, peer = _chat(demo_server, new_context)
    warning = peer.locator("#boundary-warning")

    send(peer, "Write to me at jo.peer@example.org")
    expect(warning).to_be_visible()
    peer.get_by_role("button", name="Edit the message").click()
    expect(peer.get_by_label("Your message")).to_have_value("Write to me at jo.peer@example.org")
    expect(peer.locator("#messages li")).to_have_count(0)
    send(peer, "Write to me at jo.peer@example.org, or here")
    expect(warning).to_be_visible()
    peer.get_by_role("button", name="Send anyway").click()

    expect(person.locator("#messages .body")).to_have_text(
        ["Write to me at jo.peer@example.org, or here"]
    )
    expect(warning).to_be_hidden()
    expect(messages(peer)).to_have_count(1)


def test_going_offline_and_back_loses_and_doubles_nothing(
    demo_server: DemoServer, new_context: Any
) -> None:
    person_context = new_context(**PHONE)
    person, peer = _chat(demo_server, new_context, person_context)
    send(person, "Before the tunnel.")
    expect(peer.locator("#messages .body", has_text="Before the tunnel.")).to_be_visible()

    person_context.set_offline(True)
    banner = person.locator("#connection")
    expect(banner).to_contain_text("You are offline")
    send(person, "Written in the tunnel.")
    expect(person.locator("#messages li.pending .status")).to_have_text(
        "Waiting for the connection…"
    )
    send(peer, "Are you still there?")
    send(peer, "Take your time.")
    expect(peer.locator("#messages li.own")).to_have_count(2)

    person_context.set_offline(False)
    expect(banner).to_have_text("Connected again.")
    expected = [
        "Before the tunnel.",
        "Are you still there?",
        "Take your time.",
        "Written in the tunnel.",
    ]
    expect(messages(person)).to_have_count(4)
    expect(person.locator("#messages li.pending")).to_have_count(0)
    expect(messages(peer)).to_have_count(4)
    # The reconnect sent the pending message with its first client_id: stored once, shown once.
    assert bodies(person) == expected
    assert bodies(peer) == expected
    seqs = [int(s) for s in messages(person).evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == sorted(seqs) == list(range(seqs[0], seqs[0] + 4))


def test_a_pending_message_survives_a_reload_while_offline(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    person_context = new_context(**PHONE)
    person = signed_in_service_user(person_context, demo_server, world["participant"])
    person_context.set_offline(True)
    expect(person.locator("#connection")).to_contain_text("You are offline")
    send(person, "Kept across a reload.")
    person_context.set_offline(False)
    person.reload()

    expect(messages(person)).to_have_count(1)
    assert bodies(person) == ["Kept across a reload."]
    peer = sign_in_staff(new_context(), demo_server, world["peer_username"], lands_on="/inbox/")
    _open_conversation(peer, "Web Chat Person")
    expect(messages(peer)).to_have_count(1)


def test_text_in_every_script_renders_in_its_own_direction(
    demo_server: DemoServer, new_context: Any
) -> None:
    person, peer = _chat(demo_server, new_context)
    texts = {
        "مرحبا، كيف حالك اليوم؟": "rtl",  # Arabic
        "שלום, מה שלומך?": "rtl",  # Hebrew
        "Привет, как дела?": "ltr",  # Cyrillic
        "नमस्ते, आप कैसे हैं?": "ltr",  # Devanagari
        "你好，今天怎么样？": "ltr",  # noqa: RUF001 - Chinese punctuation, on purpose
        "I feel 😊 today": "ltr",
    }
    for text in texts:
        send(person, text)
    expect(messages(peer)).to_have_count(len(texts))

    assert bodies(peer) == list(texts)
    directions = (
        messages(peer)
        .locator(".body")
        .evaluate_all("els => els.map(e => e.matches(':dir(rtl)') ? 'rtl' : 'ltr')")
    )
    assert directions == list(texts.values())
    screenshot(peer, "scripts-and-directions")


def test_chat_fits_a_360_pixel_screen_and_passes_the_accessibility_check(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    person = signed_in_service_user(new_context(**PHONE), demo_server, world["participant"])
    send(person, "A long line without spaces: " + "x" * 120)
    expect(messages(person)).to_have_count(1)

    width = person.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    assert_accessible(person)


def test_chat_works_on_a_slow_connection(demo_server: DemoServer, new_context: Any) -> None:
    world = demo_server.world()
    person_context = new_context(**PHONE)
    page = person_context.new_page()
    cdp = person_context.new_cdp_session(page)
    cdp.send("Network.enable")
    # Chrome's "Slow 3G": 400 ms round trips, 50 kB/s down, 50 kB/s up.
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 400, "downloadThroughput": 51200, "uploadThroughput": 51200},
    )
    person = signed_in_service_user(person_context, demo_server, world["participant"], page=page)
    send(person, "Sent over a slow line.")

    expect(person.locator("#messages li.own .status")).to_have_text("Sent")
    assert bodies(person) == ["Sent over a slow line."]
