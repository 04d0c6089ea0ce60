"""The leaderboard from stored votes: counted ones only, one scale, filters, the page and its chart."""

import pytest
from arena_helpers import decided, entrant

from council.arena.models import Vote

pytestmark = pytest.mark.django_db

SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


@pytest.fixture
def four(bundled):
    """The four entrants of the bundled models."""
    return {(slug, mode): entrant(bundled[slug], mode) for slug in (SMOL, GEMMA) for mode in ("fast", "thinking")}


def test_a_fresh_install_says_there_are_no_votes_yet(alice_client, bundled):
    body = alice_client.get("/api/leaderboard").json()
    assert body["entries"] == [] and body["votes"] == 0 and "Bradley–Terry" in body["method"]
    page = alice_client.get("/arena/leaderboard/").content.decode()
    assert "No votes yet" in page and "<svg" not in page


def test_the_leaderboard_orders_entrants_and_gives_intervals_ranks_and_battle_counts(alice, alice_client, four):
    thinking, fast = four[(SMOL, "thinking")], four[(SMOL, "fast")]
    gemma = four[(GEMMA, "fast")]
    for _ in range(8):
        decided(alice, thinking, fast, "A")
        decided(alice, fast, gemma, "A")
    for _ in range(2):
        decided(alice, gemma, thinking, "tie")
    body = alice_client.get("/api/leaderboard").json()
    assert body["votes"] == 18
    entries = body["entries"]
    assert [(e["model"], e["mode"]) for e in entries] == [(SMOL, "thinking"), (SMOL, "fast"), (GEMMA, "fast")]
    for e in entries:
        assert set(e) == {"model", "name", "mode", "rating", "ci_low", "ci_high", "battles", "rank"}
        assert e["ci_low"] <= e["rating"] <= e["ci_high"]
    assert [e["battles"] for e in entries] == [10, 16, 10]
    assert entries[0]["rank"] == 1
    assert sum(e["rating"] for e in entries) / 3 == pytest.approx(1000, abs=0.2)


def test_an_entrant_with_fewer_than_five_counted_battles_is_listed_unranked(alice, alice_client, four):
    for _ in range(5):
        decided(alice, four[(SMOL, "fast")], four[(GEMMA, "fast")], "A")
    decided(alice, four[(SMOL, "thinking")], four[(GEMMA, "thinking")], "B")
    ranks = {(e["model"], e["mode"]): e["rank"] for e in alice_client.get("/api/leaderboard").json()["entries"]}
    assert ranks[(SMOL, "fast")] == 1 and ranks[(GEMMA, "fast")] is not None
    assert ranks[(SMOL, "thinking")] is None and ranks[(GEMMA, "thinking")] is None


def test_discarded_votes_named_models_and_excluded_entrants_are_not_counted(alice, bob, alice_client, four):
    a, b, c = four[(SMOL, "fast")], four[(GEMMA, "fast")], four[(GEMMA, "thinking")]
    decided(alice, a, b, "A")
    decided(bob, a, b, "B", discarded=True)
    decided(alice, a, b, "B", names_model=True, identity_words=["smollm"])
    decided(alice, a, c, "A")
    assert alice_client.get("/api/leaderboard").json()["votes"] == 2
    c.excluded = True
    c.save()
    body = alice_client.get("/api/leaderboard").json()
    assert body["votes"] == 1 and {(e["model"], e["mode"]) for e in body["entries"]} == {(SMOL, "fast"), (GEMMA, "fast")}
    assert Vote.objects.count() == 4  # kept, only left out


def test_a_mode_filter_keeps_one_scale_and_ranks_among_the_rows_shown(alice, alice_client, four):
    for _ in range(6):
        decided(alice, four[(SMOL, "thinking")], four[(SMOL, "fast")], "A")
        decided(alice, four[(GEMMA, "thinking")], four[(GEMMA, "fast")], "A")
        decided(alice, four[(SMOL, "fast")], four[(GEMMA, "fast")], "tie")
    everyone = {(e["model"], e["mode"]): e for e in alice_client.get("/api/leaderboard").json()["entries"]}
    fast = alice_client.get("/api/leaderboard?mode=fast").json()
    assert {e["mode"] for e in fast["entries"]} == {"fast"} and len(fast["entries"]) == 2
    for e in fast["entries"]:
        assert e["rating"] == everyone[(e["model"], "fast")]["rating"]
        assert e["rank"] == 1  # the two FAST entrants tie: both first among FAST
    assert fast["votes"] == 18  # every vote that involved a FAST entrant
    assert alice_client.get("/api/leaderboard?mode=both").status_code == 400


def test_the_page_draws_each_entrant_with_its_interval(alice, alice_client, four):
    for _ in range(5):
        decided(alice, four[(SMOL, "fast")], four[(GEMMA, "fast")], "A")
    page = alice_client.get("/arena/leaderboard/").content.decode()
    assert page.count('<circle ') == 2 and page.count('class="interval"') == 2
    assert "SmolLM2" in page and "95 % interval" in page and "No votes yet" not in page
    assert "No votes yet for this mode" in alice_client.get("/arena/leaderboard/?mode=thinking").content.decode()
