"""A crisis phrase in the service user's chat reaches the supervisor's page as it happens."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer, screenshot
from tests.browser.pages import assert_accessible, send, sign_in_staff, signed_in_service_user


def test_a_crisis_phrase_makes_an_alert_appear_on_the_supervisors_page(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    supervisor = sign_in_staff(
        new_context(), demo_server, world["supervisor_username"], lands_on="/supervisor/"
    )
    expect(supervisor.locator("#alerts-empty")).to_be_visible()
    person = signed_in_service_user(new_context(), demo_server, world["participant"])

    send(person, "I can't go on, I want to kill myself")

    alert = supervisor.locator("#alerts li.alert")
    expect(alert).to_have_count(1)
    expect(alert.get_by_role("heading")).to_have_text("High risk: Web Chat Person")
    expect(supervisor.locator("#alert-announcer")).to_contain_text("New high risk alert")
    # The person got the programme's crisis resources, labelled as automated.
    automated = person.locator("#messages li.automated")
    expect(automated.locator(".badge")).to_have_text("Automated message")
    expect(automated.locator(".body")).to_contain_text("988")
    screenshot(supervisor, "supervisor-alert")
    assert_accessible(supervisor)


def test_a_supervisor_acknowledges_notes_and_resolves_an_alert(
    demo_server: DemoServer, new_context: Any
) -> None:
    world = demo_server.world()
    supervisor = sign_in_staff(
        new_context(), demo_server, world["supervisor_username"], lands_on="/supervisor/"
    )
    person = signed_in_service_user(new_context(), demo_server, world["participant"])
    send(person, "I want to end my life")
    alert = supervisor.locator("#alerts li.alert")
    expect(alert).to_have_count(1)

    alert.get_by_role("button", name="Acknowledge").click()
    expect(alert).to_contain_text("Acknowledged")
    expect(alert.get_by_role("button", name="Acknowledge")).to_have_count(0)
    alert.get_by_label("Add a note").fill("Called them; they are with family tonight.")
    alert.get_by_role("button", name="Save note").click()
    expect(alert.locator(".notes-list")).to_contain_text("with family tonight")
    alert.get_by_role("button", name="Resolve").click()
    expect(alert.get_by_text("Choose the outcome first.")).to_be_visible()
    alert.get_by_label("Outcome").select_option("safe")
    alert.get_by_role("button", name="Resolve").click()

    expect(supervisor.locator("#alerts li.alert")).to_have_count(0)
    expect(supervisor.locator("#alerts-empty")).to_be_visible()
    supervisor.reload()
    expect(supervisor.locator("#alerts-empty")).to_be_visible()
