"""The JSON API of DESIGN.md: create, read, validation, authentication."""

import json
from unittest import mock

import pytest
from django.test import Client

from council.accounts.models import ApiToken
from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


def post_json(client, path, data, **extra):
    return client.post(path, data=json.dumps(data), content_type="application/json", **extra)


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_it_lists_enabled_models(alice_client, bundled):
    bundled["gemma-3-270m"].enabled = False
    bundled["gemma-3-270m"].save()
    body = alice_client.get("/api/models").json()
    assert [m["slug"] for m in body] == ["smollm2-135m-instruct"]
    assert set(body[0]) == {"slug", "name", "backend", "queue", "enabled"}


def test_staff_see_disabled_models_too(admin, bundled):
    bundled["gemma-3-270m"].enabled = False
    bundled["gemma-3-270m"].save()
    client = Client()
    client.force_login(admin)
    assert {m["slug"] for m in client.get("/api/models").json()} == set(bundled)


def test_it_creates_a_comparison_with_one_response_per_model(alice_client, bundled):
    response = post_json(alice_client, "/api/comparisons", {"prompt": "Hi", "models": list(bundled), "mode": "fast"})
    assert response.status_code == 201
    body = response.json()
    assert body["url"] == f"/c/{body['id']}/"
    assert [(r["model"], r["mode"], r["status"]) for r in body["responses"]] == [
        ("smollm2-135m-instruct", "fast", "queued"),
        ("gemma-3-270m", "fast", "queued"),
    ]


def test_both_puts_fast_next_to_thinking_for_each_model(alice_client, bundled):
    body = post_json(
        alice_client, "/api/comparisons", {"prompt": "Hi", "models": ["smollm2-135m-instruct"], "mode": "both"}
    ).json()
    assert [(r["model"], r["mode"]) for r in body["responses"]] == [
        ("smollm2-135m-instruct", "fast"),
        ("smollm2-135m-instruct", "thinking"),
    ]


def test_it_reads_a_comparison_back_with_every_documented_field(alice_client, bundled):
    created = post_json(alice_client, "/api/comparisons", {"prompt": "Hi", "models": ["gemma-3-270m"]}).json()
    body = alice_client.get(f"/api/comparisons/{created['id']}").json()
    assert body["prompt"] == "Hi" and body["mode"] == "fast" and body["created_at"]
    assert body["parent"] is None and body["follow_ups"] == []
    (response,) = body["responses"]
    assert set(response) == {
        "id", "model", "mode", "status", "text", "reasoning", "error", "metrics", "previous", "truncated_turns",
        "quality",
    }
    assert response["quality"] is None  # until the FAST answer has ended and been checked
    assert set(response["metrics"]) == {
        "prompt_tokens", "completion_tokens", "reasoning_tokens", "ttft_ms", "decode_tokens_per_s", "total_ms",
        "draft_tokens", "accepted_tokens", "engine", "quantization", "speculation",
        "threads", "cores", "concurrent_streams", "batch_size", "decode_by_condition", "load_ms",
    }


def test_tasks_are_sent_after_commit_to_each_models_queue(alice_client, bundled, django_capture_on_commit_callbacks):
    bundled["gemma-3-270m"].queue = "gpu"
    bundled["gemma-3-270m"].save()
    with mock.patch("council.comparisons.dispatch.settings.COUNCIL_INPROCESS_TASKS", False), mock.patch(
        "council.comparisons.tasks.run_response_task.apply_async"
    ) as apply_async:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            post_json(alice_client, "/api/comparisons", {"prompt": "Hi", "models": list(bundled)})
        assert apply_async.call_count == 0  # nothing leaves before the rows are committed
        for callback in callbacks:
            callback()
    queues = {call.kwargs["args"][0]: call.kwargs["queue"] for call in apply_async.call_args_list}
    expected = {str(r.id): r.model.queue for r in Response.objects.select_related("model")}
    assert queues == expected and set(queues.values()) == {"cpu", "gpu"}


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"prompt": "", "models": ["smollm2-135m-instruct"]}, "prompt must not be empty"),
        ({"prompt": "   ", "models": ["smollm2-135m-instruct"]}, "prompt must not be empty"),
        ({"prompt": 5, "models": ["smollm2-135m-instruct"]}, "prompt must be a string"),
        ({"prompt": "x" * 20_001, "models": ["smollm2-135m-instruct"]}, "the limit is 20000"),
        ({"prompt": "Hi", "models": []}, "models must be a non-empty list"),
        ({"prompt": "Hi", "models": "smollm2-135m-instruct"}, "models must be a non-empty list"),
        ({"prompt": "Hi", "models": ["nope"]}, "Unknown or disabled model: nope"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "mode": "turbo"}, "mode must be one of"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "max_tokens": 0}, "max_tokens must be between"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "max_tokens": 10**9}, "max_tokens must be between"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "max_tokens": True}, "max_tokens must be a number"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "max_tokens": 2.5}, "whole number"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "temperature": "hot"}, "temperature must be a number"),
        ({"prompt": "Hi", "models": ["smollm2-135m-instruct"], "temperature": 9}, "temperature must be between"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_it_rejects_bad_input_with_a_message_and_creates_nothing(alice_client, bundled, payload, message):
    response = post_json(alice_client, "/api/comparisons", payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Comparison.objects.count() == 0 and Response.objects.count() == 0


def test_it_rejects_a_body_that_is_not_json(alice_client, bundled):
    response = alice_client.post("/api/comparisons", data=b"{nope", content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_it_rejects_a_disabled_model_for_a_normal_user(alice_client, bundled):
    bundled["gemma-3-270m"].enabled = False
    bundled["gemma-3-270m"].save()
    response = post_json(alice_client, "/api/comparisons", {"prompt": "Hi", "models": ["gemma-3-270m"]})
    assert response.status_code == 400


def test_anonymous_callers_get_401_in_json(bundled):
    response = post_json(Client(), "/api/comparisons", {"prompt": "Hi", "models": ["gemma-3-270m"]})
    assert response.status_code == 401 and "Authentication required" in response.json()["error"]


def test_a_bearer_token_authenticates_without_csrf(alice, bundled):
    _, raw = ApiToken.issue(alice, "script")
    client = Client(enforce_csrf_checks=True)
    response = post_json(
        client, "/api/comparisons", {"prompt": "Hi", "models": ["gemma-3-270m"]}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 201
    assert Comparison.objects.get().owner == alice


def test_tokens_are_stored_hashed(alice):
    token, raw = ApiToken.issue(alice, "script")
    assert raw not in token.key_hash and len(token.key_hash) == 64


def test_an_unknown_token_gets_401(bundled):
    response = Client().get("/api/models", HTTP_AUTHORIZATION="Bearer cnl_nope")
    assert response.status_code == 401 and "Invalid or revoked" in response.json()["error"]


def test_session_writes_to_the_api_need_the_csrf_token(alice, bundled):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = post_json(client, "/api/comparisons", {"prompt": "Hi", "models": ["gemma-3-270m"]})
    assert response.status_code == 403
    assert Comparison.objects.count() == 0


def test_the_home_form_creates_a_comparison_and_redirects_to_it(alice_client, bundled):
    response = alice_client.post(
        "/comparisons/new", {"prompt": "Hello", "models": ["smollm2-135m-instruct", "gemma-3-270m"], "mode": "both"}
    )
    comparison = Comparison.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/c/{comparison.id}/"
    assert comparison.responses.count() == 4


def test_the_home_form_shows_its_error_and_keeps_the_prompt(alice_client, bundled):
    response = alice_client.post("/comparisons/new", {"prompt": "Keep me", "mode": "fast"})
    assert response.status_code == 400
    assert b"models must be a non-empty list" in response.content and b"Keep me" in response.content


def test_the_home_page_has_the_form_fields_of_the_design(alice_client, bundled):
    html = alice_client.get("/").content.decode()
    assert 'name="prompt"' in html
    assert html.count('name="models"') == 2
    for mode in ("fast", "thinking", "both"):
        assert f'name="mode" value="{mode}"' in html
