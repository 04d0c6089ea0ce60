"""A thread's shared page and exports cover the conversation up to the turn, never later turns."""

import csv
import io

import pytest
from django.test import Client

from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread(alice, bundled):
    model = bundled["smollm2-135m-instruct"]
    first = Comparison.objects.create(owner=alice, prompt="First question", mode="fast")
    one = Response.objects.create(comparison=first, model=model, mode="fast", status="done", text="First answer")
    second = Comparison.objects.create(owner=alice, prompt="Second question", mode="fast", parent=first)
    Response.objects.create(comparison=second, model=model, mode="fast", status="done", text="Second answer",
                            previous=one)
    third = Comparison.objects.create(owner=alice, prompt="Third question", mode="fast", parent=second)
    return first, second, third


def test_a_shared_follow_up_shows_the_turns_that_led_to_it_and_not_later_ones(thread):
    first, second, third = thread
    token = second.share()
    html = Client().get(f"/s/{token}/").content.decode().split("<main>")[1]
    assert html.index("First question") < html.index("First answer") < html.index("Second question")
    assert "Second answer" in html and "Third question" not in html


def test_exports_cover_the_conversation_up_to_the_turn(alice, thread):
    first, second, _ = thread
    client = Client()
    client.force_login(alice)
    markdown = client.get(f"/c/{second.id}/export.md").content.decode()
    assert "## Turn 1: prompt" in markdown and "## Turn 2: prompt" in markdown
    assert markdown.index("First answer") < markdown.index("Second answer")
    assert "Third question" not in markdown
    rows = list(csv.DictReader(io.StringIO(client.get(f"/c/{second.id}/export.csv").content.decode())))
    assert [(row["turn"], row["prompt"], row["text"]) for row in rows] == [
        ("1", "First question", "First answer"), ("2", "Second question", "Second answer"),
    ]
    single = client.get(f"/c/{first.id}/export.md").content.decode()
    assert "## Prompt" in single and "Second question" not in single
