"""A blind battle in a real browser: Debian's Chromium driven by Playwright, against daphne, a
`celery worker` process and the bundled models; the vote reveals the names."""

import re

import pytest
# The browser, the live server and the skip rules are the comparison page test's.
from test_comparison_page import WAIT_MS, browser, log_in, pytestmark, server, static_files  # noqa: F401


@pytest.fixture
def short_answers(bundled):
    for model in bundled.values():
        model.default_max_tokens = 32
        model.save()


def test_alice_battles_two_hidden_models_votes_and_sees_who_they_were(server, short_answers, bundled, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(WAIT_MS)
    log_in(page, server)

    page.get_by_role("link", name="Arena").click()
    page.get_by_label("Prompt", exact=True).fill("Write one sentence about the sea.")
    page.locator("input[name=mode][value=fast]").check()
    page.get_by_role("button", name="Start a battle").click()
    page.wait_for_url(re.compile(r"/arena/b/[0-9a-f-]+/$"), timeout=WAIT_MS)

    columns = page.locator("[data-response-id]")
    expect(columns).to_have_count(2)
    expect(columns.nth(0)).to_have_attribute("data-label", "A")
    for i in range(2):
        expect(columns.nth(i)).to_have_attribute("data-status", "done")
        expect(columns.nth(i).locator(".answer")).not_to_have_text("")
    vote_a = page.get_by_role("button", name="A is better")
    expect(vote_a).to_be_enabled()  # enabled live, over the WebSocket, once both answers ended
    content = page.content()
    for model in bundled.values():
        assert model.name not in content and model.slug not in content

    vote_a.click()
    expect(page.get_by_text("You voted: A is better")).to_be_visible()
    reveal = page.locator(".reveal")
    expect(reveal).to_contain_text("SmolLM2")
    expect(reveal).to_contain_text("Gemma")
    expect(page.locator("[data-label=A] h2")).to_contain_text(re.compile("SmolLM2|Gemma"))

    page.get_by_role("link", name="Leaderboard").first.click()
    expect(page.get_by_role("heading", name="Leaderboard")).to_be_visible()
    expect(page.locator("svg.chart circle, .empty")).not_to_have_count(0)
    page.close()

