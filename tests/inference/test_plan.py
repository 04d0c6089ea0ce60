"""Plan resolution: which engine, precision, speculation and budget per mode and device."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inference import plan as plans
from inference.engines.base import EngineError
from inference.types import Mode, ModelSpec

SMOLLM = ModelSpec(slug="smollm", source="smollm2-135m-instruct")
HF_ONLY = ModelSpec(slug="qwen", source="/models/qwen3-0.6b", supports_reasoning=True)


def test_on_cpu_fast_runs_llamacpp_on_the_gguf_without_speculation():
    p = plans.resolve(SMOLLM, Mode.FAST, "cpu")
    assert (p.engine, p.device, p.quantization, p.speculation, p.reasoning) == ("llamacpp", "cpu", "q4_1", None, False)
    assert p.max_tokens == SMOLLM.default_max_tokens


def test_on_cpu_thinking_runs_torch_at_fp32_with_the_same_answer_budget():
    p = plans.resolve(SMOLLM, Mode.THINKING, "cpu")
    assert (p.engine, p.dtype, p.quantization, p.speculation) == ("torch", "float32", None, None)
    assert p.max_tokens == SMOLLM.default_max_tokens
    assert p.reasoning_max_tokens == 0  # SmolLM2 does not reason


def test_on_cuda_both_modes_run_torch_fast_quantized_and_speculative():
    fast = plans.resolve(SMOLLM, Mode.FAST, "cuda")
    thinking = plans.resolve(SMOLLM, Mode.THINKING, "cuda")
    assert (fast.engine, fast.dtype, fast.quantization, fast.speculation) == ("torch", "bfloat16", "int8wo", "ngram")
    assert fast.num_speculative_tokens == SMOLLM.num_speculative_tokens
    assert (thinking.engine, thinking.dtype, thinking.quantization, thinking.speculation) == (
        "torch", "bfloat16", None, None,
    )


def test_reasoning_is_on_only_in_thinking_mode_of_a_model_that_supports_it():
    assert plans.resolve(HF_ONLY, Mode.THINKING, "cpu").reasoning
    assert not plans.resolve(HF_ONLY, Mode.FAST, "cuda").reasoning
    assert not plans.resolve(SMOLLM, Mode.THINKING, "cpu").reasoning


def test_a_cpu_model_without_a_gguf_stays_full_precision_in_fast_mode():
    p = plans.resolve(HF_ONLY, Mode.FAST, "cpu")
    assert (p.engine, p.dtype, p.quantization) == ("torch", "float32", None)


def test_a_draft_model_selects_draft_speculation():
    spec = ModelSpec(slug="m", source="/m", draft_model="/draft")
    p = plans.resolve(spec, Mode.FAST, "cuda")
    assert (p.speculation, p.draft_model) == ("draft", "/draft")


def test_speculation_can_be_turned_off_or_on_per_model():
    off = ModelSpec(slug="m", source="/m", speculative_method="none")
    assert plans.resolve(off, Mode.FAST, "cuda").speculation is None
    on_cpu = ModelSpec(slug="m", source="smollm2-135m-instruct", speculative_method="ngram")
    assert plans.resolve(on_cpu, Mode.FAST, "cpu").speculation == "ngram"


def test_a_remote_model_is_planned_on_the_openai_engine():
    spec = ModelSpec(slug="r", source="http://localhost:8000/v1", backend="openai", supports_reasoning=True)
    p = plans.resolve(spec, Mode.THINKING)
    assert (p.engine, p.device, p.reasoning) == ("openai", "remote", True)


def test_vllm_needs_a_gpu():
    spec = ModelSpec(slug="v", source="Qwen/Qwen3-0.6B", backend="vllm")
    assert plans.resolve(spec, Mode.FAST, "cuda").engine == "vllm"
    with pytest.raises(EngineError, match="GPU"):
        plans.resolve(spec, Mode.FAST, "cpu")


def test_it_rejects_an_unknown_backend_and_a_llamacpp_model_without_gguf():
    with pytest.raises(EngineError, match="Unknown backend"):
        plans.resolve(ModelSpec(slug="x", source="/x", backend="tensorrt"), Mode.FAST, "cpu")
    with pytest.raises(EngineError, match="no GGUF"):
        plans.resolve(ModelSpec(slug="x", source="/x", backend="llamacpp"), Mode.FAST, "cpu")


def test_the_budget_never_exceeds_the_limit_or_the_context():
    spec = ModelSpec(slug="m", source="/m", default_max_tokens=5000, max_tokens_limit=1000, context_length=4096)
    assert plans.resolve(spec, Mode.THINKING, "cpu").max_tokens == 1000
    small = ModelSpec(slug="m", source="/m", default_max_tokens=9000, context_length=2048)
    assert plans.resolve(small, Mode.THINKING, "cpu").max_tokens == 2048


def test_both_modes_have_the_same_answer_budget_and_only_thinking_a_reasoning_budget():
    spec = ModelSpec(slug="m", source="/m", default_max_tokens=300, supports_reasoning=True, context_length=4096)
    fast, thinking = plans.resolve(spec, Mode.FAST, "cpu"), plans.resolve(spec, Mode.THINKING, "cpu")
    assert fast.max_tokens == thinking.max_tokens == 300
    assert (fast.reasoning_max_tokens, thinking.reasoning_max_tokens) == (0, 900)  # 3 x the answer by default
    chosen = ModelSpec(slug="m", source="/m", default_max_tokens=300, supports_reasoning=True, reasoning_max_tokens=5000,
                       context_length=2048)
    assert plans.resolve(chosen, Mode.THINKING, "cpu").reasoning_max_tokens == 2048 - 300  # never past the context
    assert thinking.total_max_tokens == 1200


def test_device_detection_does_not_need_torch(monkeypatch):
    monkeypatch.delenv("COUNCIL_DEVICE", raising=False)
    monkeypatch.setattr(plans.importlib.util, "find_spec", lambda name: None)
    plans.detect_device.cache_clear()
    try:
        assert plans.detect_device() == "cpu"
    finally:
        plans.detect_device.cache_clear()


def test_importing_the_inference_layer_imports_neither_torch_nor_django():
    code = (
        "import sys, inference.plan, inference.registry, inference.bundled, inference.text, inference.speculative;"
        "import inference.engines.llamacpp, inference.engines.torch;"
        "bad = [m for m in ('torch', 'transformers', 'django') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
