"""Limits and unavailable services: clear errors, nothing half-created."""

import json

import pytest
from django.test import Client, override_settings

from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def create(client, **extra):
    payload = {"prompt": "Hi", "models": ["smollm2-135m-instruct", "gemma-3-270m"], "mode": "fast", **extra}
    return client.post("/api/comparisons", data=json.dumps(payload), content_type="application/json")


@override_settings(COUNCIL_INPROCESS_TASKS=False, REDIS_URL="redis://127.0.0.1:1/0")
def test_an_unreachable_queue_gets_503_and_creates_nothing(alice_client, bundled):
    response = create(alice_client)
    assert response.status_code == 503
    assert "task queue is unreachable" in response.json()["error"]
    assert response["Retry-After"]
    assert Comparison.objects.count() == 0 and Response.objects.count() == 0


@override_settings(COUNCIL_RATE_LIMIT_PER_MINUTE=2, COUNCIL_MAX_ACTIVE_RESPONSES=100)
def test_the_rate_limit_answers_429_with_retry_after(alice_client, bundled):
    assert [create(alice_client).status_code for _ in range(2)] == [201, 201]
    response = create(alice_client)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    assert "At most 2 starts a minute" in response.json()["error"]
    assert Comparison.objects.count() == 2


@override_settings(COUNCIL_MAX_ACTIVE_RESPONSES=3)
def test_the_cap_on_unfinished_answers_counts_each_users_own(alice_client, bob, bundled):
    assert create(alice_client).status_code == 201  # 2 queued
    response = create(alice_client)  # 2 more would make 4
    assert response.status_code == 429 and "the limit is 3" in response.json()["error"]
    bob_client = Client()
    bob_client.force_login(bob)
    assert create(bob_client).status_code == 201  # bob's count is his own
    Response.objects.filter(comparison__owner__username="alice").update(status="done")
    assert create(alice_client).status_code == 201


def test_more_models_than_allowed_is_a_clear_400(alice_client, bundled):
    with override_settings(COUNCIL_MAX_MODELS=1):
        response = create(alice_client)
    assert response.status_code == 400 and "at most 1 models per comparison" in response.json()["error"]


@override_settings(COUNCIL_MAX_ACTIVE_RESPONSES=2, COUNCIL_RATE_LIMIT_PER_MINUTE=100)
def test_regenerating_counts_against_the_cap_on_unfinished_answers(alice_client, bundled):
    """The security test's path past the cap: stop a comparison, start another, regenerate the first."""
    first = create(alice_client).json()
    assert alice_client.post(f"/api/comparisons/{first['id']}/cancel").status_code == 200
    assert create(alice_client).status_code == 201  # 2 queued: at the cap
    rid = first["responses"][0]["id"]
    response = alice_client.post(f"/api/responses/{rid}/regenerate")
    assert response.status_code == 429 and "the limit is 2" in response.json()["error"]
    assert response["Retry-After"]
    assert Response.objects.get(id=rid).status == "cancelled"


@override_settings(COUNCIL_RATE_LIMIT_PER_MINUTE=1, COUNCIL_MAX_ACTIVE_RESPONSES=100)
def test_regenerating_counts_against_the_rate_limit(alice_client, bundled):
    first = create(alice_client).json()
    alice_client.post(f"/api/comparisons/{first['id']}/cancel")
    response = alice_client.post(f"/api/responses/{first['responses'][0]['id']}/regenerate")
    assert response.status_code == 429 and "At most 1 starts a minute" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_the_limits_check_refuses_to_run_outside_the_creating_transaction(alice):
    from council.comparisons import limits

    with pytest.raises(RuntimeError, match="inside the transaction"):
        limits.check(alice, 1)
