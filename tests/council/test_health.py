"""The staff-only health page: workers, queues, loaded models, queue depth, recent failures."""

import uuid

import pytest
import redis
from django.conf import settings
from django.test import Client, override_settings

from council.catalog import heartbeat
from council.catalog.models import LanguageModel
from council.comparisons import dispatch
from council.comparisons.models import Comparison, Response, Status
from inference import registry
from inference.types import Mode
from tests.conftest import requires_services


class IdleEngine:
    """Stands in for a loaded model: only the registry's listing is under test here."""

    def stream(self, request):
        return iter(())

    def cancel(self, request_id):
        pass

    def describe(self):
        return {"backend": "fake"}

    def approx_bytes(self):
        return 64 * 2**20


@pytest.fixture
def staff(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_anonymous_visitors_and_non_staff_are_sent_to_log_in(alice, db):
    assert Client().get("/health/").status_code == 302
    client = Client()
    client.force_login(alice)
    response = client.get("/health/")
    assert response.status_code == 302 and "login" in response["Location"]


@override_settings(COUNCIL_INPROCESS_TASKS=True)
def test_embedded_mode_shows_the_in_process_runner_with_its_loaded_models(staff, bundled):
    spec = bundled["smollm2-135m-instruct"].to_spec()
    registry.install(spec, Mode.FAST, IdleEngine())
    try:
        page = staff.get("/health/").content.decode()
    finally:
        registry.clear()
    assert "embedded task runner" in page
    assert "smollm2-135m-instruct · fast" in page and "~64 MiB" in page
    assert "there is no queue" in page


def test_it_lists_the_last_twenty_failed_responses(staff, alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="hi", mode="fast")
    model = bundled["gemma-3-270m"]
    for n in range(22):
        Response.objects.create(comparison=comparison, model=model, mode="fast", status=Status.FAILED,
                                error=f"engine error number {n:02d}")
    Response.objects.create(comparison=comparison, model=model, mode="fast", status=Status.DONE, text="fine")
    response = staff.get("/health/")
    assert len(response.context["failures"]) == 20
    page = response.content.decode()
    assert "engine error number" in page and "Gemma" in page


def test_staff_without_the_permission_to_view_responses_see_no_failure_texts(alice, bundled, django_user_model):
    from django.contrib.auth.models import Permission

    comparison = Comparison.objects.create(owner=alice, prompt="hi", mode="fast")
    Response.objects.create(comparison=comparison, model=bundled["gemma-3-270m"], mode="fast", status=Status.FAILED,
                            error="a private failure of alice")
    operator = django_user_model.objects.create_user("operator", password="operator-pass-123", is_staff=True)
    client = Client()
    client.force_login(operator)
    page = client.get("/health/").content.decode()
    assert "a private failure of alice" not in page and "Can view response" in page
    operator.user_permissions.add(Permission.objects.get(codename="view_response"))
    assert "a private failure of alice" in client.get("/health/").content.decode()


@requires_services
def test_it_shows_the_depth_of_each_models_queue(staff, bundled):
    queue = f"test-depth-{uuid.uuid4().hex[:8]}"
    LanguageModel.objects.filter(slug="gemma-3-270m").update(queue=queue)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    background = queue + dispatch.PRIORITY_SEP + str(dispatch.PRIORITY_BACKGROUND)
    client.rpush(queue, "a", "b", "c")
    client.rpush(background, "d")  # a task of another priority waits in its own list
    try:
        response = staff.get("/health/")
    finally:
        client.delete(queue, background)
    assert response.context["depths"][queue] == {"depth": 4, "served": False}
    assert "no worker" in response.content.decode()


@requires_services
def test_a_heartbeat_lists_the_worker_until_it_expires(staff, db):
    from django.core.cache import cache

    hostname = f"celery@test-{uuid.uuid4().hex[:8]}"
    heartbeat.beat(hostname, ["cpu-test"])
    assert any(w["hostname"] == hostname for w in heartbeat.live_workers())
    assert hostname in staff.get("/health/").content.decode()

    cache.delete_many([k for k in [heartbeat.KEY_PREFIX + w for w in cache.get(heartbeat.INDEX_KEY) or {}] if hostname in k])
    assert not any(w["hostname"] == hostname for w in heartbeat.live_workers())
