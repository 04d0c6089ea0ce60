"""The arena pages, open votes on ordinary comparisons, and the admin."""

import re

import pytest
from arena_helpers import decided, entrant, finish, post_json
from django.test import Client

from council.arena.models import Battle, Entrant, OpenVote, Vote
from council.comparisons import submission
from council.comparisons.models import Response, Status

pytestmark = pytest.mark.django_db

SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


def test_the_nav_links_to_the_arena_and_the_leaderboard(alice_client, bundled):
    page = alice_client.get("/").content.decode()
    assert 'href="/arena/"' in page and 'href="/arena/leaderboard/"' in page


def test_the_form_starts_a_battle_and_the_page_shows_a_and_b_only(alice_client, bundled):
    assert "Start a battle" in alice_client.get("/arena/").content.decode()
    response = alice_client.post("/arena/new", {"prompt": "Tell me about rivers.", "mode": "any"})
    battle = Battle.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/arena/b/{battle.id}/"
    page = alice_client.get(response["Location"]).content.decode()
    assert "Answer A" in page and "Answer B" in page and "Tell me about rivers." in page
    assert f'ws-connect="/ws/battles/{battle.id}/"' in page
    for model in bundled.values():
        assert model.name not in page and model.slug not in page
    assert len(re.findall(r'name="winner"[^>]* disabled', page)) == 4  # the vote waits for the answers


def test_the_form_shows_why_a_battle_was_refused(alice_client, bundled):
    response = alice_client.post("/arena/new", {"prompt": "", "mode": "any"})
    assert response.status_code == 400 and "prompt must not be empty" in response.content.decode()


def test_voting_from_the_page_reveals_the_names(alice_client, bundled):
    alice_client.post("/arena/new", {"prompt": "Tell me about rivers.", "mode": "fast"})
    battle = Battle.objects.get()
    finish(battle.comparison)
    page = alice_client.get(f"/arena/b/{battle.id}/").content.decode()
    assert not re.findall(r'name="winner"[^>]* disabled', page)
    response = alice_client.post(f"/arena/b/{battle.id}/vote", {"winner": "both_bad"})
    assert response.status_code == 302
    page = alice_client.get(f"/arena/b/{battle.id}/").content.decode()
    assert "Both are bad" in page and "ws-connect" not in page
    assert f"<strong>A</strong> was {battle.entrant_a.model.name}" in page
    assert alice_client.post(f"/arena/b/{battle.id}/vote", {"winner": "A"}).status_code == 409
    assert Vote.objects.get().winner == "both_bad"


def test_a_vote_sent_by_htmx_reloads_the_page(alice_client, bundled):
    alice_client.post("/arena/new", {"prompt": "Rivers", "mode": "fast"})
    battle = Battle.objects.get()
    finish(battle.comparison)
    response = alice_client.post(f"/arena/b/{battle.id}/vote", {"winner": "A"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == f"/arena/b/{battle.id}/"


def test_the_arena_lists_my_battles_not_bobs(alice_client, bob, bundled):
    alice_client.post("/arena/new", {"prompt": "Alice's question", "mode": "any"})
    bob_client = Client()
    bob_client.force_login(bob)
    page = bob_client.get("/arena/").content.decode()
    assert "Alice's question" not in page and "Alice&#x27;s question" not in page
    assert "Alice&#x27;s question" in alice_client.get("/arena/").content.decode()


def two_columns(owner, bundled, status=Status.DONE):
    comparison = submission.create(owner, submission.parse({"prompt": "Hi", "models": [SMOL, GEMMA]}, owner))
    comparison.responses.update(status=status, text="Hello")
    return list(comparison.responses.order_by("position"))


def test_a_person_marks_the_column_they_prefer_and_may_change_their_mind(alice, alice_client, bundled):
    smol, gemma = two_columns(alice, bundled)
    response = alice_client.post(f"/api/responses/{smol.id}/prefer")
    assert response.status_code == 200
    assert response.json() == {"comparison": str(smol.comparison_id), "preferred": str(smol.id), "model": SMOL,
                               "mode": "fast"}
    alice_client.post(f"/api/responses/{gemma.id}/prefer")
    assert list(OpenVote.objects.values_list("response", flat=True)) == [gemma.id]
    page = alice_client.get(f"/c/{smol.comparison_id}/").content.decode()
    assert page.count("★ Preferred") == 1 and 'aria-label="Prefer SmolLM2' in page
    history = alice_client.get("/history/").content.decode()
    assert "★ preferred Gemma" in history


def test_an_open_vote_needs_an_ended_answer_among_two(alice, alice_client, bob, bundled):
    running, _ = two_columns(alice, bundled, status=Status.RUNNING)
    response = alice_client.post(f"/api/responses/{running.id}/prefer")
    assert response.status_code == 409
    single = submission.create(alice, submission.parse({"prompt": "Hi", "models": [SMOL]}, alice))
    single.responses.update(status=Status.DONE)
    response = alice_client.post(f"/api/responses/{single.responses.get().id}/prefer")
    assert response.status_code == 400 and "two or more" in response.json()["error"]
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.post(f"/api/responses/{running.id}/prefer").status_code == 404
    assert not OpenVote.objects.exists()


def test_open_votes_have_their_own_table_and_never_reach_the_ratings(alice, alice_client, bundled):
    smol, _ = two_columns(alice, bundled)
    alice_client.post(f"/api/responses/{smol.id}/prefer")
    assert alice_client.get("/api/leaderboard").json()["entries"] == []
    page = alice_client.get("/arena/leaderboard/").content.decode()
    assert "No votes yet" in page
    table = page.split("<h2>Open votes</h2>")[1]
    assert "SmolLM2" in table and "100 %" in table and "Gemma" in table and "0 %" in table


def test_the_prefer_button_posts_and_reloads(alice, alice_client, bundled):
    smol, _ = two_columns(alice, bundled)
    response = alice_client.post(f"/c/responses/{smol.id}/prefer", HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Refresh"] == "true"
    assert OpenVote.objects.get().response == smol


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_the_admin_lists_battles_votes_and_entrants(admin_client, alice, bundled):
    battle = decided(alice, entrant(bundled[SMOL], "fast"), entrant(bundled[GEMMA], "fast"), "A")
    for path in ("/admin/arena/battle/", "/admin/arena/vote/", "/admin/arena/entrant/", "/admin/arena/openvote/",
                 f"/admin/arena/battle/{battle.id}/change/"):
        assert admin_client.get(path).status_code == 200, path
    assert "A is better" in admin_client.get("/admin/arena/battle/").content.decode()


def test_the_admin_excludes_an_entrant(admin_client, bundled):
    gemma = entrant(bundled[GEMMA], "thinking")
    admin_client.post("/admin/arena/entrant/", {"action": "exclude_entrants", "_selected_action": [gemma.id]})
    assert Entrant.objects.get(id=gemma.id).excluded


def test_the_admin_discards_every_vote_of_a_user(admin_client, alice, bob, bundled):
    a, b = entrant(bundled[SMOL], "fast"), entrant(bundled[GEMMA], "fast")
    bobs = [decided(bob, a, b, "B").vote for _ in range(3)]
    decided(alice, a, b, "A")
    admin_client.post("/admin/arena/vote/", {"action": "discard_voters", "_selected_action": [bobs[0].id]})
    assert set(Vote.objects.filter(discarded=True).values_list("voter__username", flat=True)) == {"bob"}
    assert Vote.objects.filter(discarded=True).count() == 3
    assert Vote.objects.get(voter__username="alice").discarded is False


def test_bob_cannot_reach_the_admin(bob_client, bundled):
    assert bob_client.get("/admin/arena/vote/").status_code == 302
