"""Battles over the JSON API: blind until the vote, one vote, hostile input refused with nothing changed."""

import random

import pytest
from arena_helpers import finish, post_json
from django.test import Client

from council.arena import battles
from council.arena.models import Battle, Entrant, Vote
from council.comparisons.errors import SubmissionError
from council.comparisons.models import Comparison, Response, Status

pytestmark = pytest.mark.django_db

SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


def names(bundled):
    return [m.slug for m in bundled.values()] + [m.name for m in bundled.values()]


def assert_blind(text, bundled):
    for name in names(bundled):
        assert name not in text, f"{name!r} leaked: {text[:500]}"


def start(client, **data):
    response = post_json(client, "/api/battles", {"prompt": "Describe the sea.", **data})
    assert response.status_code == 201, response.content
    return response.json()


def finished(client, **texts):
    """A battle started over the API whose two answers have ended: (the API's answer, the Battle)."""
    created = start(client)
    battle = Battle.objects.get(id=created["id"])
    finish(battle.comparison, **texts)
    return created, battle


def test_a_battle_starts_two_answers_labelled_a_and_b_with_no_names(alice_client, bundled):
    response = post_json(alice_client, "/api/battles", {"prompt": "Describe the sea."})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "url", "turn", "responses"}
    assert body["url"] == f"/arena/b/{body['id']}/"
    assert [(r["label"], r["status"]) for r in body["responses"]] == [("A", "queued"), ("B", "queued")]
    assert all(set(r) == {"id", "label", "status"} for r in body["responses"])
    assert_blind(response.content.decode(), bundled)
    battle = Battle.objects.get(id=body["id"])
    a, b = battle.comparison.responses.order_by("position")
    assert (a.model, a.mode, b.model, b.mode) == (battle.entrant_a.model, battle.entrant_a.mode,
                                                  battle.entrant_b.model, battle.entrant_b.mode)
    assert battle.entrant_a != battle.entrant_b
    assert battle.comparison.blind


def test_a_mode_keeps_both_entrants_in_that_mode(alice_client, bundled):
    for mode in ("fast", "thinking"):
        battle = Battle.objects.get(id=start(alice_client, mode=mode)["id"])
        assert battle.entrant_a.mode == battle.entrant_b.mode == mode
        assert {battle.entrant_a.model.slug, battle.entrant_b.model.slug} == {SMOL, GEMMA}


def test_mode_any_can_pit_a_models_fast_against_its_own_thinking(alice, bundled, settings):
    settings.COUNCIL_RATE_LIMIT_PER_MINUTE = 100
    rng = random.Random(0)
    pairs = set()
    for _ in range(40):
        battle = battles.start(alice, {"prompt": "Hi", "mode": "any"}, rng=rng)
        pairs.add(frozenset((battle.entrant_a.model.slug + battle.entrant_a.mode,
                             battle.entrant_b.model.slug + battle.entrant_b.mode)))
        Response.objects.filter(comparison=battle.comparison).update(status=Status.DONE)  # stay under the active cap
    assert frozenset((SMOL + "fast", SMOL + "thinking")) in pairs
    assert len(pairs) == 6  # every pair of the four entrants comes up


@pytest.mark.parametrize("body, message", [
    ({"prompt": ""}, "prompt must not be empty"),
    ({"prompt": "Hi", "mode": "both"}, "mode must be one of fast, thinking, any"),
    ({"prompt": 5}, "prompt must be a string"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_battle_requests_get_a_400_and_create_nothing(alice_client, bundled, body, message):
    response = post_json(alice_client, "/api/battles", body)
    assert response.status_code == 400 and message in response.json()["error"]
    assert not Battle.objects.exists() and not Comparison.objects.exists()


def test_a_mode_with_fewer_than_two_entrants_is_refused(alice_client, bundled):
    bundled[GEMMA].enabled = False
    bundled[GEMMA].save()
    response = post_json(alice_client, "/api/battles", {"prompt": "Hi", "mode": "fast"})
    assert response.status_code == 400 and "needs two entrants" in response.json()["error"]
    assert_blind(response.content.decode(), bundled)
    assert not Entrant.objects.exists()  # a refused battle writes nothing
    assert start(alice_client, mode="any")  # SmolLM2 FAST against SmolLM2 THINKING


def test_an_excluded_entrant_is_never_drawn(alice, bundled, settings):
    settings.COUNCIL_RATE_LIMIT_PER_MINUTE = 100
    Entrant.objects.create(model=bundled[GEMMA], mode="fast", excluded=True)
    with pytest.raises(SubmissionError, match="has 1"):
        battles.start(alice, {"prompt": "Hi", "mode": "fast"})
    rng = random.Random(1)
    for _ in range(12):
        battle = battles.start(alice, {"prompt": "Hi"}, rng=rng)
        assert not {battle.entrant_a, battle.entrant_b} & set(Entrant.objects.filter(excluded=True))
        Response.objects.filter(comparison=battle.comparison).update(status=Status.DONE)


def test_reading_a_battle_before_the_vote_shows_text_but_no_names_or_figures(alice_client, bundled):
    created = start(alice_client)
    battle = Battle.objects.get(id=created["id"])
    Response.objects.filter(comparison=battle.comparison, position=1).update(
        status=Status.FAILED, error=f"{GEMMA}: could not load /models/{SMOL}.gguf", metrics={"engine": "llamacpp"})
    response = alice_client.get(f"/api/battles/{created['id']}")
    body = response.json()
    assert body["vote"] is None and body["responses"] is None
    (turn,) = body["turns"]
    assert turn["prompt"] == "Describe the sea."
    assert [r["label"] for r in turn["responses"]] == ["A", "B"]
    assert turn["responses"][1]["error"] == "This answer failed."
    assert all("model" not in r and "metrics" not in r and "mode" not in r for r in turn["responses"])
    assert_blind(response.content.decode(), bundled)
    assert "llamacpp" not in response.content.decode()


def test_no_ordinary_route_reaches_a_battles_answers(alice_client, bundled):
    created, battle = finished(alice_client)
    cid, rid = battle.comparison.id, created["responses"][0]["id"]
    for path in (f"/api/comparisons/{cid}", f"/c/{cid}/", f"/c/{cid}/export.json", f"/c/{cid}/export.md",
                 f"/api/comparisons/{cid}/events"):
        assert alice_client.get(path).status_code in (404, 302), path
    for path in (f"/c/{cid}/share", f"/api/comparisons/{cid}/follow-up", f"/api/responses/{rid}/regenerate",
                 f"/api/responses/{rid}/cancel", f"/api/responses/{rid}/prefer", f"/api/comparisons/{cid}/cancel"):
        assert alice_client.post(path).status_code == 404, path
    history = alice_client.get("/history/").content.decode()
    assert "Describe the sea." not in history
    assert alice_client.get("/api/comparisons").json()["results"] == []
    assert alice_client.get("/api/comparisons?q=sea").json()["results"] == []
    assert "Describe the sea." not in alice_client.get("/").content.decode()


def test_the_vote_reveals_the_entrants(alice_client, bundled):
    created, battle = finished(alice_client)
    response = post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "B"})
    assert response.status_code == 200
    body = response.json()
    assert body["vote"]["winner"] == "B" and body["vote"]["counted"] is True
    assert [(r["label"], r["model"], r["mode"]) for r in body["responses"]] == [
        ("A", battle.entrant_a.model.slug, battle.entrant_a.mode), ("B", battle.entrant_b.model.slug, battle.entrant_b.mode)]
    detail = alice_client.get(f"/api/battles/{created['id']}").json()
    assert detail["vote"]["winner"] == "B"
    assert [r["model"] for r in detail["turns"][0]["responses"]] == [r["model"] for r in body["responses"]]


@pytest.mark.parametrize("winner", ["A", "B", "tie", "both_bad"])
def test_every_documented_winner_is_accepted(alice_client, bundled, winner):
    created, _ = finished(alice_client)
    assert post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": winner}).status_code == 200
    assert Vote.objects.get().winner == winner


def test_a_second_vote_is_refused_and_the_first_stands(alice_client, bundled):
    created, _ = finished(alice_client)
    post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"})
    response = post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "B"})
    assert response.status_code == 409 and "already has its vote" in response.json()["error"]
    assert list(Vote.objects.values_list("winner", flat=True)) == ["A"]


def test_a_vote_before_both_answers_end_is_refused(alice_client, bundled):
    created = start(alice_client)
    battle = Battle.objects.get(id=created["id"])
    Response.objects.filter(comparison=battle.comparison, position=0).update(status=Status.DONE, text="Done.")
    response = post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"})
    assert response.status_code == 409 and "once both answers have ended" in response.json()["error"]
    assert not Vote.objects.exists()
    assert_blind(response.content.decode(), bundled)
    # A stopped answer has ended: the vote is open.
    Response.objects.filter(comparison=battle.comparison, position=1).update(status=Status.CANCELLED)
    assert post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"}).status_code == 200


@pytest.mark.parametrize("body", [{"winner": "C"}, {"winner": "a"}, {"winner": None}, {}, {"winner": ["A"]}, "A", None])
def test_an_unknown_winner_is_refused(alice_client, bundled, body):
    created, _ = finished(alice_client)
    response = post_json(alice_client, f"/api/battles/{created['id']}/vote", body)
    assert response.status_code == 400 and "winner must be one of A, B, tie, both_bad" in response.json()["error"]
    assert not Vote.objects.exists()


def test_bob_can_neither_see_nor_vote_on_nor_touch_alices_battle(alice_client, bob_client, bundled):
    created, battle = finished(alice_client)
    bid = created["id"]
    assert bob_client.get(f"/api/battles/{bid}").status_code == 404
    assert bob_client.get(f"/arena/b/{bid}/").status_code == 404
    assert bob_client.get(f"/api/battles/{bid}/events").status_code == 404
    for path, data in ((f"/api/battles/{bid}/vote", {"winner": "A"}), (f"/api/battles/{bid}/follow-up", {"prompt": "More"}),
                       (f"/api/battles/{bid}/cancel", {})):
        response = post_json(bob_client, path, data)
        assert response.status_code == 404 and "Describe the sea" not in response.content.decode()
    assert bob_client.post(f"/arena/b/{bid}/vote", {"winner": "A"}).status_code == 404
    assert not Vote.objects.exists() and Comparison.objects.count() == 1


def test_anonymous_callers_get_a_401(bundled):
    client = Client()
    assert post_json(client, "/api/battles", {"prompt": "Hi"}).status_code == 401
    assert client.get("/api/leaderboard").status_code == 401


def test_a_follow_up_continues_the_battle_blind_in_the_same_columns(alice_client, bundled):
    created, battle = finished(alice_client)
    response = post_json(alice_client, f"/api/battles/{created['id']}/follow-up", {"prompt": "And the sky?"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == created["id"] and [r["label"] for r in body["responses"]] == ["A", "B"]
    assert_blind(response.content.decode(), bundled)
    turn = Comparison.objects.get(id=body["turn"])
    assert turn.blind and turn.parent == battle.comparison
    first = list(battle.comparison.responses.order_by("position"))
    for position, response in enumerate(turn.responses.order_by("position")):
        assert (response.model, response.mode, response.previous) == (first[position].model, first[position].mode,
                                                                      first[position])
    # The vote waits for the latest turn.
    assert post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"}).status_code == 409
    finish(turn)
    assert post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"}).status_code == 200
    assert len(alice_client.get(f"/api/battles/{created['id']}").json()["turns"]) == 2


def test_a_follow_up_waits_for_the_answers_and_is_refused_after_the_vote(alice_client, bundled):
    created = start(alice_client)
    battle = Battle.objects.get(id=created["id"])
    response = post_json(alice_client, f"/api/battles/{created['id']}/follow-up", {"prompt": "More"})
    assert response.status_code == 400 and "still coming" in response.json()["error"]
    finish(battle.comparison)
    assert post_json(alice_client, f"/api/battles/{created['id']}/follow-up", {"prompt": ""}).status_code == 400
    post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "tie"})
    response = post_json(alice_client, f"/api/battles/{created['id']}/follow-up", {"prompt": "More"})
    assert response.status_code == 409 and "has its vote" in response.json()["error"]
    assert Comparison.objects.count() == 1


def test_stop_ends_one_answer_or_both(alice_client, bundled):
    created = start(alice_client)
    bid = created["id"]
    assert alice_client.post(f"/api/battles/{bid}/cancel?label=B").status_code == 200
    statuses = dict(Response.objects.values_list("position", "status"))
    assert statuses == {0: Status.QUEUED, 1: Status.CANCELLED}
    assert alice_client.post(f"/api/battles/{bid}/cancel?label=C").status_code == 400
    assert alice_client.post(f"/api/battles/{bid}/cancel").status_code == 200
    assert set(Response.objects.values_list("status", flat=True)) == {Status.CANCELLED}


def test_an_answer_that_names_a_model_keeps_the_vote_but_leaves_it_uncounted(alice_client, bundled):
    created, _ = finished(alice_client, texts=("I am SmolLM, trained by Hugging Face.", "The sea is blue."))
    body = post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"}).json()
    assert body["vote"]["counted"] is False
    assert body["vote"]["identity_words"] == ["hugging face", "smollm"]
    vote = Vote.objects.get()
    assert vote.names_model and vote.winner == "A"
    assert alice_client.get("/api/leaderboard").json()["votes"] == 0


def test_ordinary_words_are_not_identity_words(alice_client, bundled):
    created, _ = finished(alice_client, texts=("A gemmary of llamas-wool: the meta of it.", "Smoll is not a word."))
    assert post_json(alice_client, f"/api/battles/{created['id']}/vote", {"winner": "A"}).json()["vote"]["counted"]


def test_battles_count_against_the_rate_limit_like_comparisons(alice_client, bundled, settings):
    settings.COUNCIL_MAX_ACTIVE_RESPONSES = 3
    start(alice_client)
    response = post_json(alice_client, "/api/battles", {"prompt": "Again"})
    assert response.status_code == 429 and response["Retry-After"]
    assert Battle.objects.count() == 1 and Comparison.objects.count() == 1
