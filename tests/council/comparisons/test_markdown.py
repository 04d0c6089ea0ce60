"""Answers as sanitized markdown: highlighted code, and nothing from a model that can run."""

from html.parser import HTMLParser

import pytest
from django.test import Client

from council.comparisons.models import Comparison, Response
from council.lib.markdown import render

pytestmark = pytest.mark.django_db

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "[click](javascript:alert(3))",
    "[click](JaVaScRiPt:alert(4))",
    "![pixel](javascript:alert(5))",
    '<a href="javascript:alert(6)">x</a>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==)",
    "```html\n<script>alert(8)</script>\n```",
    "<svg onload=alert(9)>",
]


def elements(html: str) -> list[tuple[str, dict]]:
    """The elements a browser would build from html: [(tag, attributes)]."""
    found = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Parser().feed(html)
    return found


def assert_inert(html: str) -> None:
    for tag, attrs in elements(html):
        assert tag not in {"script", "img", "svg", "iframe", "object", "style"}, html
        assert not any(name.startswith("on") for name in attrs), html
        for name in ("href", "src"):
            assert not (attrs.get(name) or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")), html


@pytest.mark.parametrize("source", HOSTILE)
def test_it_renders_hostile_markdown_inert(source):
    assert_inert(render(source))


def test_it_renders_markdown_with_highlighted_code():
    html = render("**bold** and `x`\n\n```python\ndef f():\n    return 1\n```\n\n[site](https://example.com)")
    assert "<strong>bold</strong>" in html and "<code>x</code>" in html
    assert '<code class="language-python"><span class="k">def</span>' in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>' in html


def test_it_leaves_code_in_an_unknown_language_escaped():
    assert "&lt;b&gt;" in render("```nolanguage\n<b>\n```")


@pytest.fixture
def columns(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="Say <b>hi</b>", mode="fast")
    model = bundled["smollm2-135m-instruct"]
    done = Response.objects.create(comparison=comparison, model=model, mode="fast", status="done", position=0,
                                   text="# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))")
    running = Response.objects.create(comparison=comparison, model=model, mode="fast", status="running", position=1,
                                      text="**so far** <img src=x onerror=alert(3)>")
    return comparison, done, running


def page(user, comparison):
    client = Client()
    client.force_login(user)
    return client.get(f"/c/{comparison.id}/").content.decode()


def test_a_finished_column_shows_sanitized_markdown_and_a_copy_button_with_the_raw_text(alice, columns):
    comparison, done, _ = columns
    html = page(alice, comparison)
    assert "<h1>Title</h1>" in html
    assert_inert(html.split("<main>")[1])
    assert 'data-copy-text="# Title\n\n&lt;script&gt;alert(1)&lt;/script&gt;\n\n[x](javascript:alert(2))"' in html


def test_a_streaming_column_shows_escaped_plain_text(alice, columns):
    comparison, _, running = columns
    html = page(alice, comparison)
    assert "**so far** &lt;img src=x onerror=alert(3)&gt;" in html
    assert_inert(html.split("<main>")[1])


def test_a_thinking_column_folds_its_reasoning_with_a_count(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="Why?", mode="thinking")
    model = bundled["smollm2-135m-instruct"]
    Response.objects.create(comparison=comparison, model=model, mode="thinking", status="done",
                            reasoning="one two three", text="Because.")
    Response.objects.create(comparison=comparison, model=model, mode="thinking", status="done", position=1,
                            reasoning="a b", text="So.", metrics={"reasoning_tokens": 7})
    html = page(alice, comparison)
    assert '<details class="reasoning">' in html
    assert "3 words" in html and "7 tokens" in html
