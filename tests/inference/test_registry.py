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


COLD_LOADS = r"""
import sys, threading
from inference import registry
from inference.types import Mode, ModelSpec, GenerationRequest, Message

specs = [ModelSpec(slug=f"tiny-{i}", source=path, backend="torch") for i, path in enumerate(sys.argv[1:])]
wanted = [(spec, mode) for spec in specs for mode in (Mode.FAST, Mode.THINKING)]
start = threading.Barrier(len(wanted))
results = {}

def load(spec, mode):
    start.wait(timeout=60)
    try:
        engine = registry.get_engine(spec, mode)
        request = GenerationRequest("r", (Message("user", "a b"),), max_tokens=2)
        results[spec.slug, mode.value] = [event.type for event in engine.stream(request)][-1]
    except Exception as exc:
        results[spec.slug, mode.value] = f"{type(exc).__name__}: {exc}"

workers = [threading.Thread(target=load, args=pair) for pair in wanted]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join(timeout=300)
print(sorted(results.items()))
assert all(outcome == "done" for outcome in results.values()), results
"""


def tiny_transformers_model(path, layers: int) -> str:
    """A small random llama with its own word-level tokenizer, saved as a transformers directory."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", "a", "b", "c", "user", "assistant"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}assistant"
    config = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.mark.slow
def test_cold_loads_of_the_same_transformers_model_twice_and_of_two_models_at_once_all_succeed(tmp_path):
    """In a fresh interpreter (transformers not yet imported), FAST and THINKING of two models
    load at the same moment: each torch load used to see the others' meta-device parameters,
    and the import race read as a missing package."""
    import subprocess
    import sys

    first = tiny_transformers_model(tmp_path / "one", layers=2)
    second = tiny_transformers_model(tmp_path / "two", layers=3)
    env = {**__import__("os").environ, "COUNCIL_DEVICE": "cpu"}
    run = subprocess.run([sys.executable, "-c", COLD_LOADS, first, second], capture_output=True, text=True,
                         timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
