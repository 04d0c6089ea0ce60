"""Follow-up turns: each column keeps its own conversation, fitted to the model's context."""

import json

import pytest
from django.test import Client

from council.comparisons import submission
from council.comparisons.models import Comparison, Response, Status
from council.comparisons.runner import build_request
from inference import plan as plans
from inference.types import Message, Mode

pytestmark = pytest.mark.django_db

SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


def post_json(client, path, data):
    return client.post(path, data=json.dumps(data), content_type="application/json")


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def ask(owner, prompt, models, parent=None, **data):
    """A turn created the way the API creates it (no worker runs: the transaction never commits)."""
    if parent is None:
        parsed = submission.parse({"prompt": prompt, "models": models, **data}, owner)
    else:
        parsed = submission.parse_follow_up({"prompt": prompt}, owner, parent)
    return submission.create(owner, parsed, parent=parent)


def answer(turn, texts, status=Status.DONE):
    """Finish every column of `turn`, with the text given for its model's slug."""
    for response in turn.responses.select_related("model"):
        response.status = status
        response.text = texts[response.model.slug]
        response.save()


def request_for(response):
    response = Response.objects.select_related("model", "comparison").get(id=response.id)
    return build_request(response, plans.resolve(response.model.to_spec(), Mode(response.mode))), response


def column(turn, slug):
    return turn.responses.get(model__slug=slug)


def test_a_follow_up_sends_only_its_own_columns_previous_answers_in_order(alice, bundled):
    first = ask(alice, "Name a colour.", [SMOL, GEMMA], system_prompt="Be brief.")
    answer(first, {SMOL: "Red.", GEMMA: "Blue."})
    second = ask(alice, "Another one?", None, parent=first)
    answer(second, {SMOL: "Green.", GEMMA: "Yellow."})
    third = ask(alice, "And a third?", None, parent=second)

    request, response = request_for(column(third, SMOL))

    assert request.messages == (
        Message("system", "Be brief."),
        Message("user", "Name a colour."), Message("assistant", "Red."),
        Message("user", "Another one?"), Message("assistant", "Green."),
        Message("user", "And a third?"),
    )
    assert response.truncated_turns == 0
    assert [m.content for m in request_for(column(third, GEMMA))[0].messages if m.role == "assistant"] == [
        "Blue.", "Yellow.",
    ]


def test_a_follow_up_keeps_the_same_columns_in_the_same_places_each_continuing_its_own(alice, bundled):
    first = ask(alice, "Hi", [SMOL, GEMMA], mode="both")
    answer(first, {SMOL: "a", GEMMA: "b"})
    second = ask(alice, "Again", None, parent=first)
    before = list(first.responses.order_by("position"))
    after = list(second.responses.order_by("position"))
    assert [(r.model_id, r.mode) for r in after] == [(r.model_id, r.mode) for r in before]
    assert [r.previous_id for r in after] == [r.id for r in before]
    assert second.mode == "both" and second.parent == first


def test_a_turn_with_no_answer_is_left_out_and_a_stopped_one_keeps_its_partial_text(alice, bundled):
    first = ask(alice, "One", [SMOL])
    answer(first, {SMOL: ""}, status=Status.FAILED)
    second = ask(alice, "Two", None, parent=first)
    answer(second, {SMOL: "Half an ans"}, status=Status.CANCELLED)
    third = ask(alice, "Three", None, parent=second)

    request, _ = request_for(column(third, SMOL))

    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "Two"), ("assistant", "Half an ans"), ("user", "Three"),
    ]


def test_the_oldest_turns_are_dropped_to_fit_the_context_and_counted(alice, bundled):
    model = bundled[SMOL]
    model.context_length, model.max_tokens_limit = 1000, 100
    model.save()
    turn = ask(alice, "Turn 1", [SMOL], max_tokens=100)
    for n in range(2, 6):
        answer(turn, {SMOL: f"answer {n - 1} " + "x" * 900})  # about 300 tokens each by the estimate
        turn = ask(alice, f"Turn {n}", None, parent=turn)

    request, response = request_for(column(turn, SMOL))

    # 900 tokens of room: the two newest earlier turns fit, the two oldest do not.
    assert response.truncated_turns == 2
    assert [m.content for m in request.messages if m.role == "user"] == ["Turn 3", "Turn 4", "Turn 5"]
    assert request.messages[1].content.startswith("answer 3 ")


def test_a_new_prompt_too_long_for_the_context_drops_every_earlier_turn_and_is_still_sent(alice, bundled):
    model = bundled[SMOL]
    model.context_length, model.max_tokens_limit = 200, 100
    model.save()
    first = ask(alice, "Short", [SMOL], max_tokens=100)
    answer(first, {SMOL: "ok"})
    second = ask(alice, "y" * 3000, None, parent=first)

    request, response = request_for(column(second, SMOL))

    assert response.truncated_turns == 1
    assert [m.content for m in request.messages] == ["y" * 3000]  # the engine says it is longer than the context


def test_the_column_says_how_many_earlier_turns_were_left_out(alice_client, alice, bundled):
    first = ask(alice, "One", [SMOL])
    answer(first, {SMOL: "a"})
    second = ask(alice, "Two", None, parent=first)
    Response.objects.filter(comparison=second).update(truncated_turns=3)
    html = alice_client.get(f"/c/{second.id}/").content.decode()
    assert "3 earlier turns left out to fit this model’s context." in html


def test_the_api_creates_a_follow_up_on_the_latest_turn(alice_client, alice, bundled):
    first = ask(alice, "Hi", [SMOL, GEMMA])
    answer(first, {SMOL: "a", GEMMA: "b"})

    created = post_json(alice_client, f"/api/comparisons/{first.id}/follow-up", {"prompt": "More"})

    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "url", "responses"} and body["url"] == f"/c/{body['id']}/"
    assert [(r["model"], r["mode"], r["status"]) for r in body["responses"]] == [
        (SMOL, "fast", "queued"), (GEMMA, "fast", "queued"),
    ]
    follow_up = alice_client.get(f"/api/comparisons/{body['id']}").json()
    assert follow_up["parent"] == str(first.id) and follow_up["prompt"] == "More"
    assert [r["previous"] for r in follow_up["responses"]] == [str(r.id) for r in first.responses.order_by("position")]
    assert alice_client.get(f"/api/comparisons/{first.id}").json()["follow_ups"] == [body["id"]]


def test_the_api_refuses_a_follow_up_while_answers_are_still_coming(alice_client, alice, bundled):
    first = ask(alice, "Hi", [SMOL, GEMMA])
    answer(first, {SMOL: "a", GEMMA: "b"})
    Response.objects.filter(comparison=first, model__slug=GEMMA).update(status=Status.RUNNING)
    response = post_json(alice_client, f"/api/comparisons/{first.id}/follow-up", {"prompt": "More"})
    assert response.status_code == 400
    assert "wait for the answers to finish or stop them" in response.json()["error"]
    assert not first.follow_ups.exists()


def test_the_api_refuses_a_follow_up_on_an_earlier_turn_and_names_the_latest(alice_client, alice, bundled):
    first = ask(alice, "Hi", [SMOL])
    answer(first, {SMOL: "a"})
    second = ask(alice, "More", None, parent=first)
    answer(second, {SMOL: "b"})
    response = post_json(alice_client, f"/api/comparisons/{first.id}/follow-up", {"prompt": "Again"})
    assert response.status_code == 409 and str(second.id) in response.json()["error"]
    assert Comparison.objects.filter(owner=alice).count() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": ""}, "prompt must not be empty"),
        ({"prompt": 3}, "prompt must be a string"),
        ({}, "prompt must not be empty"),
        (["More"], "must be a JSON object"),
        ({"prompt": "x" * 20_001}, "the limit is 20000"),
    ],
)
def test_the_api_rejects_a_bad_follow_up(alice_client, alice, bundled, body, message):
    first = ask(alice, "Hi", [SMOL])
    answer(first, {SMOL: "a"})
    response = post_json(alice_client, f"/api/comparisons/{first.id}/follow-up", body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_bob_cannot_follow_up_on_alices_comparison(alice, bob, bundled):
    first = ask(alice, "Secret", [SMOL])
    answer(first, {SMOL: "a"})
    client = Client()
    client.force_login(bob)
    response = post_json(client, f"/api/comparisons/{first.id}/follow-up", {"prompt": "More"})
    assert response.status_code == 404 and "Secret" not in response.content.decode()
    assert client.post(f"/c/{first.id}/follow-up", {"prompt": "More"}).status_code == 404
    assert not first.follow_ups.exists()


def test_an_earlier_turn_cannot_be_regenerated(alice_client, alice, bundled):
    first = ask(alice, "Hi", [SMOL])
    answer(first, {SMOL: "a"})
    ask(alice, "More", None, parent=first)
    response = alice_client.post(f"/api/responses/{column(first, SMOL).id}/regenerate")
    assert response.status_code == 409 and "latest turn" in response.json()["error"]


def test_the_follow_up_form_creates_the_next_turn_and_shows_the_thread(alice_client, alice, bundled):
    first = ask(alice, "First question", [SMOL])
    answer(first, {SMOL: "First answer"})
    page = alice_client.get(f"/c/{first.id}/").content.decode()
    assert f'action="/c/{first.id}/follow-up"' in page and 'name="prompt"' in page

    response = alice_client.post(f"/c/{first.id}/follow-up", {"prompt": "Second question"})

    second = first.follow_ups.get()
    assert response.status_code == 302 and response["Location"] == f"/c/{second.id}/"
    for turn in (first, second):  # any turn's page shows the whole thread, streaming the latest
        html = alice_client.get(f"/c/{turn.id}/").content.decode()
        assert html.index("First question") < html.index("First answer") < html.index("Second question")
        assert f'ws-connect="/ws/comparisons/{second.id}/"' in html
        assert f'action="/c/{second.id}/follow-up"' in html
        assert html.count('data-response-id="') == 2


def test_the_follow_up_form_shows_why_it_was_refused_and_keeps_the_prompt(alice_client, alice, bundled):
    first = ask(alice, "Hi", [SMOL])  # still queued
    response = alice_client.post(f"/c/{first.id}/follow-up", {"prompt": "Too soon"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "wait for the answers to finish or stop them" in html and ">Too soon</textarea>" in html


def test_history_lists_a_thread_once_by_its_first_turn(alice_client, alice, bundled):
    first = ask(alice, "Thread start", [SMOL])
    answer(first, {SMOL: "a"})
    ask(alice, "Thread follow-up", None, parent=first)
    html = alice_client.get("/history/").content.decode()
    assert "Thread start" in html and "Thread follow-up" not in html


def test_deleting_the_first_turn_deletes_the_thread(alice_client, alice, bundled):
    first = ask(alice, "Hi", [SMOL])
    answer(first, {SMOL: "a"})
    ask(alice, "More", None, parent=first)
    alice_client.post(f"/c/{first.id}/delete")
    assert not Comparison.objects.filter(owner=alice).exists()
