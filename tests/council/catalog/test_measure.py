"""Test load and benchmark: real generations on the bundled SmolLM2, stored on the model row."""

import time

import pytest
from django.test import Client, override_settings

from council.catalog import measure
from council.catalog.models import LanguageModel
from tests.conftest import requires_services

SMOLLM2 = "smollm2-135m-instruct"


def unreachable_server(slug="remote"):
    """An OpenAI-compatible model on a loopback port nothing listens on: every load fails at once."""
    return LanguageModel.objects.create(slug=slug, name="Remote", backend="openai", source="http://127.0.0.1:9/v1")


def wait_for(predicate, timeout=120, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"not true after {timeout} s")


def measured(model_id, key, modes=()):
    def check():
        measurements = LanguageModel.objects.get(pk=model_id).measurements
        result = measurements.get(key)
        if result and all(mode in result for mode in modes):
            return result
        return None
    return check


def test_a_test_load_generates_with_smollm2_in_fast_and_stores_the_figures(bundled):
    model = bundled[SMOLLM2]
    results = measure.run_test_load(model.pk, modes=("fast",))

    fast = results["fast"]
    assert fast["ok"], fast.get("error")
    assert fast["engine"] == "llamacpp" and fast["sample"].strip()
    assert fast["ttft_ms"] > 0 and fast["decode_tokens_per_s"] > 0
    model.refresh_from_db()
    assert model.measurements["test_load"]["fast"] == fast
    assert model.measured_at is not None


def test_a_failed_load_is_stored_with_its_error_and_keeps_the_other_results(db):
    model = unreachable_server()
    LanguageModel.objects.filter(pk=model.pk).update(measurements={"benchmark": {"speedup": 3.0}})
    results = measure.run_test_load(model.pk)

    assert set(results) == {"fast", "thinking"}
    assert all(not r["ok"] and r["error"] for r in results.values())
    model.refresh_from_db()
    assert model.measurements["benchmark"] == {"speedup": 3.0}
    assert model.measurements["test_load"]["thinking"]["error"] == results["thinking"]["error"]


def test_a_benchmark_of_a_model_outside_the_bundle_measures_speed_only_and_says_so(db):
    model = unreachable_server()
    figures = measure.run_benchmark(model.pk, max_tokens=8)
    assert figures["perplexity_delta"] is None and "Speed only" in figures["note"]


def test_a_benchmark_that_cannot_load_stores_its_error(db):
    model = unreachable_server()
    figures = measure.run_benchmark(model.pk, max_tokens=8)
    assert figures["ok"] is False and figures["error"]
    model.refresh_from_db()
    assert model.measurements["benchmark"]["error"] == figures["error"]


@override_settings(COUNCIL_INPROCESS_TASKS=True)
def test_the_admin_action_runs_the_test_load_in_process_in_embedded_mode(transactional_db, admin):
    model = unreachable_server()
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/catalog/languagemodel/", {"action": "test_load", "_selected_action": [model.pk]}, follow=True
    )
    assert "test load started on this process" in response.content.decode()

    result = wait_for(measured(model.pk, "test_load", modes=("fast", "thinking")), timeout=60)
    assert "127.0.0.1:9" in result["fast"]["error"]
    page = client.get(f"/admin/catalog/languagemodel/{model.pk}/change/").content.decode()
    assert "failed (" in page


@requires_services
def test_a_worker_on_the_models_queue_runs_the_test_load_and_reports_it_on_the_health_page(
    bundled, celery_worker, worker_queue, admin
):
    model = bundled[SMOLLM2]
    LanguageModel.objects.filter(pk=model.pk).update(queue=worker_queue)
    model.refresh_from_db()

    assert measure.enqueue("test_load", model, modes=["fast"]) == f"queue {worker_queue}"
    result = wait_for(measured(model.pk, "test_load", modes=("fast",)), timeout=120)
    assert result["fast"]["ok"], result["fast"].get("error")
    assert result["fast"]["sample"].strip()

    client = Client()
    client.force_login(admin)

    def health_shows_the_loaded_model():
        page = client.get("/health/").content.decode()
        return page if worker_queue in page and f"{SMOLLM2} · fast · llamacpp" in page else None

    page = wait_for(health_shows_the_loaded_model, timeout=60, step=1)
    assert "MiB" in page


@pytest.mark.slow
@override_settings(COUNCIL_INPROCESS_TASKS=True)
def test_the_admin_test_load_runs_smollm2_in_both_modes(transactional_db, admin):
    """THINKING loads the torch engine (de-quantizing the GGUF the first time): slow."""
    from council.catalog.bundled import register_bundled_models

    register_bundled_models()
    model = LanguageModel.objects.get(slug=SMOLLM2)
    client = Client()
    client.force_login(admin)
    client.post("/admin/catalog/languagemodel/", {"action": "test_load", "_selected_action": [model.pk]})

    result = wait_for(measured(model.pk, "test_load", modes=("fast", "thinking")), timeout=600, step=1)
    for mode in ("fast", "thinking"):
        assert result[mode]["ok"], result[mode].get("error")
        assert result[mode]["sample"].strip()
    assert result["thinking"]["engine"] == "torch"


@pytest.mark.slow
def test_a_benchmark_of_smollm2_stores_speed_and_quality_cost(bundled):
    """Runs inference.bench on the bundled SmolLM2, torch engine included: slow."""
    model = bundled[SMOLLM2]
    figures = measure.run_benchmark(model.pk, max_tokens=16)
    assert figures["ok"], figures.get("error")
    assert figures["fast_decode_tokens_per_s"] > 0 and figures["thinking_decode_tokens_per_s"] > 0
    assert figures["speedup"] > 0
    assert figures["perplexity_delta"] is not None and 0 < figures["top1_agreement"] <= 1
    model.refresh_from_db()
    assert model.measurements["benchmark"]["speedup"] == figures["speedup"]
