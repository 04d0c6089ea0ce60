"""Warm start: which models load when a site or worker starts, in what order, and the switch that turns it off."""

import pytest

from council.catalog import preload
from inference import registry

pytestmark = pytest.mark.django_db(transaction=True)


class IdleEngine:
    """Stands in for a loaded model: what is tested is which ones load, not how."""

    def stream(self, request):
        yield from ()

    def cancel(self, request_id):
        pass

    def describe(self):
        return {"backend": "idle"}


@pytest.fixture
def fresh(monkeypatch):
    loads = []
    registry.clear()
    monkeypatch.setattr(registry, "_load", lambda spec, plan: loads.append((spec.slug, plan.mode.value)) or IdleEngine())
    monkeypatch.setattr(preload, "_started", type(preload._started)())
    yield loads
    registry.clear()


def test_the_bundled_and_preload_marked_models_load_fast_first_then_thinking(bundled, fresh, settings):
    from council.catalog.models import LanguageModel

    settings.COUNCIL_PRELOAD = True
    LanguageModel.objects.create(slug="mine", name="Mine", source="/models/mine.gguf", preload=True)
    LanguageModel.objects.create(slug="cold", name="Cold", source="/models/cold.gguf")
    LanguageModel.objects.create(slug="off", name="Off", source="/models/off.gguf", preload=True, enabled=False)
    thread = preload.start()
    thread.join(timeout=60)
    slugs = {"smollm2-135m-instruct", "gemma-3-270m", "mine"}
    assert {slug for slug, _ in fresh} == slugs
    modes = [mode for _, mode in fresh]
    assert modes == ["fast"] * 3 + ["thinking"] * 3
    assert preload.start() is None  # once per process


def test_a_worker_preloads_only_the_models_of_its_queues(bundled, fresh):
    bundled["gemma-3-270m"].queue = "gpu"
    bundled["gemma-3-270m"].save()
    assert {spec.slug for spec, _ in preload.pairs(["cpu"])} == {"smollm2-135m-instruct"}


def test_the_setting_turns_it_off(bundled, fresh, settings):
    settings.COUNCIL_PRELOAD = False
    assert preload.start() is None and fresh == []
