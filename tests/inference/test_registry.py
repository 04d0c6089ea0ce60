"""The engine registry: one load per model and mode, shared; failures; memory budget."""

from __future__ import annotations

import threading
import time

import pytest

from inference import registry
from inference.engines.base import EngineError
from inference.types import Mode, ModelSpec


class FakeEngine:
    """Stands in for a loaded model: the registry's logic does not depend on one."""

    def __init__(self, size: int = 100) -> None:
        self.size = size

    def stream(self, request):
        yield from ()

    def cancel(self, request_id):
        pass

    def describe(self):
        return {"backend": "fake"}

    def approx_bytes(self):
        return self.size


@pytest.fixture(autouse=True)
def empty_registry():
    registry.clear()
    yield
    registry.clear()


def spec(slug: str = "m") -> ModelSpec:
    return ModelSpec(slug=slug, source="smollm2-135m-instruct")


def test_concurrent_requests_for_a_loading_model_wait_for_one_load(monkeypatch):
    loads = []

    def slow_load(spec, plan):
        loads.append(spec.slug)
        time.sleep(0.3)
        return FakeEngine()

    monkeypatch.setattr(registry, "_load", slow_load)
    engines = []
    threads = [threading.Thread(target=lambda: engines.append(registry.get_engine(spec(), Mode.FAST))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert loads == ["m"]
    assert len(engines) == 8 and all(e is engines[0] for e in engines)


def test_the_real_bundled_model_loads_once_under_concurrent_requests():
    engines = []
    threads = [threading.Thread(target=lambda: engines.append(registry.get_engine(spec(), Mode.FAST))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(engines) == 4 and len({id(e) for e in engines}) == 1
    [entry] = registry.loaded()
    assert entry["slug"] == "m" and entry["mode"] == "fast" and entry["engine"] == "llamacpp"
    assert entry["approx_bytes"] > 50_000_000


def test_fast_and_thinking_are_separate_engines(monkeypatch):
    monkeypatch.setattr(registry, "_load", lambda spec, plan: FakeEngine())
    assert registry.get_engine(spec(), Mode.FAST) is not registry.get_engine(spec(), Mode.THINKING)
    assert {e["mode"] for e in registry.loaded()} == {"fast", "thinking"}


def test_a_failed_load_raises_an_actionable_error_to_every_waiter_and_is_retried(monkeypatch):
    calls = []

    def broken(spec, plan):
        calls.append(1)
        time.sleep(0.2)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(registry, "_load", broken)
    errors = []

    def attempt():
        try:
            registry.get_engine(spec(), Mode.FAST)
        except EngineError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=attempt) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 3 and all("Could not load m " in e and "disk on fire" in e for e in errors)
    assert len(calls) == 1
    with pytest.raises(EngineError):
        registry.get_engine(spec(), Mode.FAST)
    assert len(calls) == 2


def test_a_missing_gguf_file_is_an_engine_error_naming_the_path():
    bad = ModelSpec(slug="x", source="/nowhere/model.gguf")
    with pytest.raises(EngineError, match="/nowhere/model.gguf"):
        registry.get_engine(bad, Mode.FAST)


def test_it_evicts_the_least_recently_used_engine_over_the_memory_budget(monkeypatch):
    monkeypatch.setenv("COUNCIL_INFERENCE_MEMORY_MB", "2")
    monkeypatch.setattr(registry, "_load", lambda spec, plan: FakeEngine(size=900 * 1024))
    registry.get_engine(spec("a"), Mode.FAST)
    registry.get_engine(spec("b"), Mode.FAST)
    registry.get_engine(spec("a"), Mode.FAST)  # a is now the most recently used
    registry.get_engine(spec("c"), Mode.FAST)
    assert [e["slug"] for e in registry.loaded()] == ["a", "c"]


def test_a_fake_engine_can_be_installed_for_tests():
    fake = FakeEngine()
    registry.install(spec(), Mode.FAST, fake)
    assert registry.get_engine(spec(), Mode.FAST) is fake
