"""`GET /api/comparisons?q=&page=`: the user's own threads, newest first, searched, paginated."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from council.comparisons.api import PAGE_SIZE
from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def turn(owner, prompt, model, answer="", parent=None, minutes_ago=0):
    comparison = Comparison.objects.create(owner=owner, prompt=prompt, mode="fast", parent=parent)
    Comparison.objects.filter(id=comparison.id).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    Response.objects.create(comparison=comparison, model=model, mode="fast", status="done", text=answer)
    comparison.refresh_from_db()
    return comparison


@pytest.fixture
def threads(alice, bob, bundled):
    """Alice: an old thread with a follow-up whose answer mentions otters, and a newer one. Bob: one."""
    model = bundled["smollm2-135m-instruct"]
    old = turn(alice, "Tell me about rivers", model, "Rivers flow.", minutes_ago=30)
    middle = turn(alice, "And what lives there?", model, "Fish and Otters.", parent=old, minutes_ago=20)
    turn(alice, "Go on", model, "More fish.", parent=middle, minutes_ago=10)
    new = turn(alice, "Why is the sky blue?", model, "Rayleigh scattering.", minutes_ago=5)
    bobs = turn(bob, "Bob's otters question", model, "Otters everywhere.", minutes_ago=1)
    return old, new, bobs


def test_it_lists_the_users_threads_once_each_newest_first(alice, threads):
    old, new, _ = threads
    body = client_for(alice).get("/api/comparisons").json()
    assert [r["id"] for r in body["results"]] == [str(new.id), str(old.id)]
    assert body["next"] is None
    first = body["results"][0]
    assert first == {"id": str(new.id), "prompt": "Why is the sky blue?", "mode": "fast",
                     "created_at": new.created_at.isoformat(),
                     "url": f"/c/{new.id}/"}


def test_search_reaches_the_answers_and_follow_ups_of_a_thread(alice, threads):
    old, new, _ = threads
    client = client_for(alice)
    assert [r["id"] for r in client.get("/api/comparisons", {"q": "OTTERS"}).json()["results"]] == [str(old.id)]
    assert [r["id"] for r in client.get("/api/comparisons", {"q": "more fish"}).json()["results"]] == [str(old.id)]
    assert [r["id"] for r in client.get("/api/comparisons", {"q": "sky"}).json()["results"]] == [str(new.id)]
    assert client.get("/api/comparisons", {"q": "nothing like this"}).json() == {"results": [], "next": None}


def test_bob_never_sees_alices_threads(bob, threads):
    _, _, bobs = threads
    for query in ("", "otters", "rivers"):
        body = client_for(bob).get("/api/comparisons", {"q": query}).json()
        assert [r["id"] for r in body["results"]] == [str(bobs.id)] * (query in ("", "otters"))


def test_it_pages_with_a_next_link_that_keeps_the_query(alice, bundled):
    model = bundled["gemma-3-270m"]
    made = [turn(alice, f"Question {n} about tea", model, minutes_ago=n) for n in range(PAGE_SIZE + 2)]
    client = client_for(alice)
    first = client.get("/api/comparisons", {"q": "tea"}).json()
    assert len(first["results"]) == PAGE_SIZE and first["next"] == "/api/comparisons?q=tea&page=2"
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [str(c.id) for c in made[PAGE_SIZE:]]
    assert second["next"] is None
    assert client.get("/api/comparisons", {"q": "tea", "page": 9}).json() == {"results": [], "next": None}


@pytest.mark.parametrize("page", ["0", "-1", "two", "1.5", "١", "99999999999"])
def test_a_bad_page_is_a_400_naming_it(alice, page):
    response = client_for(alice).get("/api/comparisons", {"page": page})
    assert response.status_code == 400 and response.json()["error"].startswith("page ")


def test_a_query_over_the_limit_is_a_400(alice):
    response = client_for(alice).get("/api/comparisons", {"q": "x" * 501})
    assert response.status_code == 400 and "the limit is 500" in response.json()["error"]


def test_anonymous_callers_get_401(db):
    assert Client().get("/api/comparisons").status_code == 401


def test_the_history_page_searches_answers_and_follow_ups_too(alice, threads):
    html = client_for(alice).get("/history/", {"q": "otters"}).content.decode()
    assert "Tell me about rivers" in html and "Why is the sky blue?" not in html
