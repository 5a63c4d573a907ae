"""The web survey form from the demo's printed link: it validates, then submits."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DemoServer, screenshot
from tests.browser.pages import assert_accessible

LINK = re.compile(r"their GAD-7 is a web link: (\S+)")


def test_the_web_survey_refuses_missing_answers_then_submits(
    demo_server: DemoServer, new_context: Any
) -> None:
    link = LINK.search(demo_server.seed_output)
    assert link, demo_server.seed_output
    page = new_context(viewport={"width": 360, "height": 740}).new_page()
    page.goto(link.group(1))
    questions = page.locator("fieldset")
    expect(questions).to_have_count(7)
    assert_accessible(page)
    screenshot(page, "web-survey")

    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Some questions still need an answer.")).to_be_visible()
    for index in range(7):
        questions.nth(index).get_by_role("radio").first.check()
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    page.goto(link.group(1))
    expect(page.get_by_role("heading", level=1)).to_have_text("Already done")
