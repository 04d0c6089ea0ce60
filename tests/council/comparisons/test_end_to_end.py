"""A comparison through the real stack: daphne, a `celery worker` process, Redis, Postgres, llama.cpp."""

import httpx
import pytest

from council.accounts.models import ApiToken
from council.lib.sse import read_events
from tests.conftest import requires_services

pytestmark = requires_services


@pytest.fixture
def api(daphne_server, alice):
    _, raw = ApiToken.issue(alice, "test")
    with httpx.Client(base_url=daphne_server, headers={"Authorization": f"Bearer {raw}"}, timeout=10) as client:
        yield client


def test_a_worker_process_streams_both_bundled_models_and_stores_the_deltas(api, bundled, celery_worker, worker_queue):
    for model in bundled.values():
        model.queue = worker_queue
        model.save()
    created = api.post(
        "/api/comparisons",
        json={"prompt": "Write one sentence about the sea.", "models": list(bundled), "mode": "fast", "max_tokens": 32},
    )
    assert created.status_code == 201, created.text
    comparison_id = created.json()["id"]

    events = read_events(api, f"/api/comparisons/{comparison_id}/events")

    assert events[0][0] == "snapshot" and events[-1][0] == "end"
    final = api.get(f"/api/comparisons/{comparison_id}").json()
    for response in final["responses"]:
        rid = response["id"]
        deltas = [data for name, data in events if name == "response.delta" and data["response_id"] == rid]
        statuses = [data["status"] for name, data in events if name == "response.status" and data["response_id"] == rid]
        assert response["status"] == "done", response["error"]
        assert statuses[-1] == "done"
        assert [d["seq"] for d in deltas] == sorted(d["seq"] for d in deltas)
        assert "".join(d["text"] for d in deltas) == response["text"] != ""
        assert response["metrics"]["completion_tokens"] > 0
        assert response["metrics"]["decode_tokens_per_s"] > 0


def test_bob_sees_nothing_of_alices_comparison_over_http_and_sse(daphne_server, alice, bob, bundled):
    _, alice_token = ApiToken.issue(alice, "a")
    _, bob_token = ApiToken.issue(bob, "b")
    with httpx.Client(base_url=daphne_server, timeout=10) as client:
        created = client.post(
            "/api/comparisons",
            json={"prompt": "Secret", "models": ["gemma-3-270m"], "max_tokens": 1},
            headers={"Authorization": f"Bearer {alice_token}"},
        ).json()
        as_bob = {"Authorization": f"Bearer {bob_token}"}
        for path in (f"/api/comparisons/{created['id']}", f"/api/comparisons/{created['id']}/events"):
            response = client.get(path, headers=as_bob)
            assert response.status_code == 404 and "Secret" not in response.text
        response = client.post(f"/api/comparisons/{created['id']}/cancel", headers=as_bob)
        assert response.status_code == 404
        rid = created["responses"][0]["id"]
        assert client.post(f"/api/responses/{rid}/cancel", headers=as_bob).status_code == 404
        assert client.post(f"/api/responses/{rid}/regenerate", headers=as_bob).status_code == 404
        assert client.get(f"/api/comparisons/{created['id']}/events").status_code == 401


def wait_until_finished(api, comparison_id, timeout=120):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/comparisons/{comparison_id}").json()
        if all(r["status"] in ("done", "failed", "cancelled") for r in body["responses"]):
            return body
        time.sleep(0.3)
    raise TimeoutError(f"comparison {comparison_id} still unfinished after {timeout} s")


def test_a_follow_up_is_generated_with_the_first_answer_in_its_columns_context(api, bundled, celery_worker, worker_queue):
    model = bundled["smollm2-135m-instruct"]
    model.queue = worker_queue
    model.save()
    created = api.post(
        "/api/comparisons", json={"prompt": "Name a fruit.", "models": [model.slug], "max_tokens": 24}
    ).json()
    first = wait_until_finished(api, created["id"])
    (first_answer,) = first["responses"]
    assert first_answer["status"] == "done" and first_answer["text"], first_answer["error"]

    follow_up = api.post(f"/api/comparisons/{created['id']}/follow-up", json={"prompt": "Name a fruit."})
    assert follow_up.status_code == 201, follow_up.text
    second = wait_until_finished(api, follow_up.json()["id"])

    (second_answer,) = second["responses"]
    assert second_answer["status"] == "done", second_answer["error"]
    assert second["parent"] == created["id"] and second_answer["previous"] == first_answer["id"]
    # The same question again, so the only extra prompt tokens are turn 1 and its answer.
    extra = second_answer["metrics"]["prompt_tokens"] - first_answer["metrics"]["prompt_tokens"]
    assert extra >= first_answer["metrics"]["completion_tokens"]
    assert second_answer["truncated_turns"] == 0
