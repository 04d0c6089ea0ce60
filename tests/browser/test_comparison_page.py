"""The comparison page in a real browser: Debian's Chromium driven by Playwright, against
daphne, a `celery worker` process and the bundled models."""

import re
from pathlib import Path

import pytest

from tests.conftest import requires_services

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 60_000  # every wait is bounded, so no test can hang

pytestmark = [
    requires_services,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def static_files(monkeypatch):
    """daphne serves static/ through WhiteNoise's finders (no collectstatic): DEBUG in the child only."""
    monkeypatch.setenv("DEBUG", "true")


@pytest.fixture
def server(static_files, daphne_server, celery_worker, worker_queue, bundled, alice):
    for model in bundled.values():
        model.queue = worker_queue
        model.save()
    return daphne_server


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (the test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def log_in(page, server):
    page.goto(f"{server}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/", timeout=WAIT_MS)


def ask(page, server, prompt, max_tokens, only=None):
    page.goto(f"{server}/")
    page.get_by_label("Prompt", exact=True).fill(prompt)
    if only:
        for box in page.locator("input[name=models]").all():
            box.set_checked(box.get_attribute("value") == only)
    page.locator("input[name=mode][value=fast]").check()
    page.get_by_text("Options").click()
    page.get_by_label("Max tokens").fill(str(max_tokens))
    page.get_by_label("Prompt", exact=True).press("Control+Enter")  # the shortcut submits the form
    page.wait_for_url(re.compile(r"/c/[0-9a-f-]+/$"), timeout=WAIT_MS)


def test_alice_compares_two_models_stops_one_and_shares_the_result(server, browser, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    refused = []  # the Content-Security-Policy must refuse nothing the page itself needs
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    log_in(page, server)

    ask(page, server, "Write one sentence about the sea.", 48)
    columns = page.locator("[data-response-id]")
    expect(columns).to_have_count(2)
    for i in range(2):
        expect(columns.nth(i).locator(".answer")).not_to_have_text("")
    for i in range(2):
        expect(columns.nth(i)).to_have_attribute("data-status", "done")
        expect(columns.nth(i).locator(".answer.markdown")).to_have_count(1)  # re-rendered as markdown
        expect(columns.nth(i).get_by_role("button", name=re.compile("^Copy"))).to_be_visible()
    shot = tmp_path / "comparison.png"  # kept with the test's files, to look at when it fails
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.get_by_role("button", name="Share read-only link").click()
    share_url = page.get_by_label("Read-only link").input_value()
    comparison_url = page.url

    # gemma is a base model: it carries on counting, so it is still running when Stop is clicked.
    ask(page, server, "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,", 2000, only="gemma-3-270m")
    column = page.locator("[data-response-id]")
    expect(column).to_have_attribute("data-status", "running")
    expect(column.locator(".answer")).not_to_have_text("")
    column.get_by_role("button", name=re.compile("^Stop")).click()
    expect(column).to_have_attribute("data-status", "cancelled")
    expect(column.get_by_text("Stopped")).to_be_visible()

    visitor = browser.new_context()  # logged out
    shared = visitor.new_page()
    shared.set_default_timeout(WAIT_MS)
    shared.goto(share_url)
    expect(shared.locator("[data-response-id]")).to_have_count(2)
    expect(shared.locator("[data-status=done]")).to_have_count(2)
    expect(shared.get_by_role("button", name=re.compile("^(Stop|Regenerate)"))).to_have_count(0)
    assert shared.locator("[ws-connect]").count() == 0
    assert shared.request.get(comparison_url).url.endswith("/accounts/login/?next=" + comparison_url.split(server)[1])
    visitor.close()

    # A follow-up from the finished comparison streams into new columns under the first turn's.
    page.goto(comparison_url)
    page.get_by_label("Follow up").fill("Now one sentence about the sky.")
    page.get_by_label("Follow up").press("Control+Enter")
    page.wait_for_url(lambda url: url != comparison_url and re.search(r"/c/[0-9a-f-]+/$", url), timeout=WAIT_MS)
    expect(page.locator("[data-response-id]")).to_have_count(4)
    latest = page.locator(".turn.latest [data-response-id]")
    expect(latest).to_have_count(2)
    for i in range(2):
        expect(latest.nth(i)).to_have_attribute("data-status", "done")
        expect(latest.nth(i).locator(".answer")).not_to_have_text("")
    context.close()
    assert refused == []
