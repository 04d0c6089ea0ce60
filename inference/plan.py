"""(ModelSpec, Mode, device) -> EnginePlan: which engine serves a model, and how.

The whole decision lives here so that the web side never branches on the engine:

- THINKING: full precision (fp32 on CPU, bf16 on CUDA), no speculation, reasoning on
  where the model supports it, with a reasoning budget on top of the answer's. Engine `torch`.
- Both modes have the same answer budget: FAST never shortens an answer.
- FAST on a CPU host: llama.cpp on the model's GGUF file as it is (4/5/8-bit). Measured
  on 2 cores it decodes ~4x faster than torch fp32 at the same perplexity, while every
  torch CPU quantization tried either broke quality or ran slower (see docs/inference.md).
  Speculation is off by default there: llama-cpp-python has no native speculative loop
  and a Python-level prompt-lookup loop measured slower (`python -m inference bench`).
- FAST on CUDA: torch with torchao weight-only int8, prompt-lookup speculation (the
  verifier is greedy-exact, so output quality does not change), static cache and
  torch.compile. vLLM where the model asks for it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import dataclass

from inference import gguf
from inference.errors import EngineError
from inference.quantization import TORCH_METHODS, quantization_error
from inference.types import EnginePlan, Mode, ModelSpec

BACKENDS = ("auto", "torch", "llamacpp", "vllm", "openai")
QUANTIZATIONS = (*TORCH_METHODS, "none")
SPECULATIVE_METHODS = ("auto", "none", "ngram", "draft", "eagle")
THINKING_DTYPES = ("float32", "bfloat16", "float16")
BACKEND_ENGINES = {  # the engines resolve() may pick for each backend
    "auto": ("llamacpp", "torch"),
    "torch": ("torch",),
    "llamacpp": ("llamacpp",),
    "vllm": ("vllm",),
    "openai": ("openai",),
}


@functools.lru_cache(maxsize=1)
def detect_device() -> str:
    """`cuda` when torch is installed and sees a GPU, else `cpu`. Cached per process.

    Does not import torch when it is not installed; `COUNCIL_DEVICE` overrides.
    """
    forced = os.environ.get("COUNCIL_DEVICE", "").strip().lower()
    if forced in ("cpu", "cuda"):
        return forced
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve(spec: ModelSpec, mode: Mode, device: str | None = None) -> EnginePlan:
    """The plan for serving `spec` in `mode` on `device` (None: this process's device)."""
    mode = Mode(mode)
    backend = (spec.backend or "auto").lower()
    if backend not in BACKENDS:
        raise EngineError(f"Unknown backend {spec.backend!r} for model {spec.slug}; use one of {', '.join(BACKENDS)}.")
    if backend == "openai":
        return _remote_plan(spec, mode)
    device = device or detect_device()
    if device not in ("cpu", "cuda"):
        raise EngineError(f"Unknown device {device!r}; Council serves local models on cpu or cuda.")
    budget = token_budget(spec, mode)
    reasoning = mode is Mode.THINKING and spec.supports_reasoning

    if backend == "vllm":
        if device != "cuda":
            raise EngineError(
                f"Model {spec.slug} is set to the vllm backend, which needs a CUDA GPU; "
                "this worker has none. Route it to a GPU queue or set its backend to auto."
            )
        return _vllm_plan(spec, mode, budget, reasoning)

    if mode is Mode.THINKING:
        if backend == "llamacpp":
            return _llamacpp_plan(spec, mode, device, budget, reasoning)
        dtype = spec.thinking_dtype or ("bfloat16" if device == "cuda" else "float32")
        return _plan(spec, mode, "torch", device, dtype, budget, reasoning=reasoning)

    # FAST
    wants_llamacpp = backend == "llamacpp" or (backend == "auto" and device == "cpu" and gguf.path_for(spec))
    if wants_llamacpp:
        return _llamacpp_plan(spec, mode, device, budget, reasoning)
    quant = _fast_quantization(spec, device)
    speculation = _speculation(spec, default="draft" if spec.draft_model else "ngram")
    dtype = "bfloat16" if device == "cuda" else "float32"
    return _plan(spec, mode, "torch", device, dtype, budget, quantization=quant, speculation=speculation)


def token_budget(spec: ModelSpec, mode: Mode | None = None) -> int:
    """The answer budget: the same in both modes, so FAST never shortens an answer."""
    return max(1, min(spec.default_max_tokens, spec.max_tokens_limit, spec.context_length))


def reasoning_budget(spec: ModelSpec, mode: Mode) -> int:
    """Reasoning tokens THINKING may spend before its answer, on top of the answer budget.

    0 in FAST and for models without reasoning; by default three times the answer budget
    (the old single THINKING budget was four), never past the context.
    """
    if Mode(mode) is not Mode.THINKING or not spec.supports_reasoning:
        return 0
    budget = spec.reasoning_max_tokens if spec.reasoning_max_tokens is not None else 3 * token_budget(spec)
    return max(0, min(budget, spec.context_length - token_budget(spec)))


@dataclass(frozen=True)
class ThinkingWeights:
    """What THINKING computes for a model, for the page: a short badge and a sentence."""

    label: str
    note: str
    dequantized: bool  # THINKING de-quantizes a quantized file: no full-precision weights were given


def thinking_weights(spec: ModelSpec) -> ThinkingWeights | None:
    """Whether THINKING runs full-precision weights or a quantized file computed at full
    precision (the bundled models, or a model given only as a GGUF); None for a remote server.

    Reads no file: a bundled model names its format, a GGUF path is read by its name.
    """
    if (spec.backend or "auto").lower() == "openai":
        return None
    from inference import bundled

    if spec.source in bundled.BUNDLED:
        quant = bundled.BUNDLED[spec.source].quantization
    elif spec.source.lower().endswith(".gguf"):
        quant = gguf.quantization(spec.source).upper()
    else:
        return ThinkingWeights(
            label="full-precision weights",
            note=(f"THINKING runs {spec.name or spec.slug}'s full-precision weights "
                  f"({spec.thinking_dtype or 'fp32 on CPU, bf16 on GPU'}); FAST's quality is measured against them."),
            dequantized=False,
        )
    bits = re.match(r"I?Q(\d)", quant)
    size = f"{bits.group(1)}-bit" if bits else quant
    dtype = spec.thinking_dtype or "fp32"
    where = "" if spec.thinking_dtype else " (bf16 on a GPU)"
    return ThinkingWeights(
        label=f"{size} weights in {dtype}",
        note=(f"{spec.name or spec.slug} ships only as a {size} GGUF file ({quant}): THINKING computes those "
              f"{size} weights in {dtype}{where}, so FAST's quality is measured against the same {size} weights at full "
              "compute precision, not against the original full-precision model."),
        dequantized=True,
    )


def _speculation(spec: ModelSpec, default: str | None) -> str | None:
    method = (spec.speculative_method or "auto").lower()
    if method == "auto":
        return default
    if method == "none":
        return None
    if method == "draft" and not spec.draft_model:
        raise EngineError(f"Model {spec.slug} asks for draft-model speculation but names no draft_model.")
    if method not in SPECULATIVE_METHODS:
        raise EngineError(f"Unknown speculative_method {spec.speculative_method!r} for {spec.slug}.")
    return method


def known_quantization(name: str, backend: str = "torch") -> bool:
    """Whether a model's `quantization` names a method `backend` can apply (blank: the plan's default)."""
    return quantization_error(backend, name) is None


def _fast_quantization(spec: ModelSpec, device: str) -> str | None:
    quant = (spec.quantization or "").lower() or None
    if quant == "none":
        return None
    if not known_quantization(quant):
        raise EngineError(f"Unknown quantization {spec.quantization!r} for {spec.slug}; use one of {QUANTIZATIONS}.")
    if quant:
        return quant
    # On CPU, torch's int8 paths either broke quality (quantize_dynamic: ppl x3) or ran
    # slower than fp32 (weight-only int8 mm), so a CPU model without a GGUF stays fp32.
    return "int8wo" if device == "cuda" else None


def _llamacpp_plan(spec: ModelSpec, mode: Mode, device: str, budget: int, reasoning: bool) -> EnginePlan:
    path = gguf.path_for(spec)
    if not path:
        raise EngineError(
            f"Model {spec.slug} has no GGUF file for llama.cpp; set its gguf_file or use the torch backend."
        )
    # Off unless asked for: the Python-level loop costs more than it saves on CPU.
    speculation = _speculation(spec, default=None)
    if speculation not in (None, "ngram"):
        raise EngineError(f"The llama.cpp engine supports only ngram speculation, not {speculation!r}.")
    weights = gguf.quantization(path)
    return _plan(spec, mode, "llamacpp", device, weights, budget,
                 quantization=weights, speculation=speculation, reasoning=reasoning)


def _vllm_plan(spec: ModelSpec, mode: Mode, budget: int, reasoning: bool) -> EnginePlan:
    fast = mode is Mode.FAST
    quant = (spec.quantization or "").lower() or "fp8"  # vLLM names; the engine maps fp8 for its release
    if not fast or quant == "none":
        quant = None
    speculation = _speculation(spec, default="draft" if spec.draft_model else "ngram") if fast else None
    return _plan(spec, mode, "vllm", "cuda", spec.thinking_dtype or "bfloat16", budget,
                 quantization=quant, speculation=speculation, reasoning=reasoning)


def _remote_plan(spec: ModelSpec, mode: Mode) -> EnginePlan:
    reasoning = mode is Mode.THINKING and spec.supports_reasoning
    return _plan(spec, mode, "openai", "remote", "remote", token_budget(spec, mode), reasoning=reasoning)


def _plan(
    spec: ModelSpec,
    mode: Mode,
    engine: str,
    device: str,
    dtype: str,
    budget: int,
    *,
    quantization: str | None = None,
    speculation: str | None = None,
    reasoning: bool = False,
) -> EnginePlan:
    """An EnginePlan with the defaults filled: full precision, no speculation, no reasoning.

    The draft count comes from the model when speculation runs, and the draft model only
    for `draft` speculation.
    """
    return EnginePlan(
        engine=engine,
        mode=mode,
        device=device,
        dtype=dtype,
        quantization=quantization,
        speculation=speculation,
        num_speculative_tokens=spec.num_speculative_tokens if speculation else 0,
        draft_model=spec.draft_model if speculation == "draft" else None,
        reasoning=reasoning,
        max_tokens=budget,
        reasoning_max_tokens=reasoning_budget(spec, mode) if reasoning else 0,
    )
