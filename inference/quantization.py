"""What each backend calls its quantization methods, and whether a model's setting names one.

The catalog validates a model's `quantization` field with `quantization_error(backend,
name)`; the plan and the vLLM engine map a name to what their engine accepts. Blank means
"the plan's default" and `none` means full precision, for every backend.
"""

from __future__ import annotations

import functools
import importlib.util

from inference.errors import EngineError

# The torch engine (torchao on CUDA); AWQ / GPTQ name a pre-quantized checkpoint.
TORCH_METHODS = ("int8", "int8wo", "fp8", "int4wo")
CHECKPOINT_PREFIXES = ("awq", "gptq")

# llama.cpp's GGUF weight types (llama_ftype names, without LLAMA_FTYPE_MOSTLY_).
GGUF_TYPES = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0",
    "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K",
)

# The vLLM release the `[vllm]` extra, the GPU image and the docs name.
VLLM_RELEASE = "0.33.0"
# vLLM 0.33.0's QUANTIZATION_METHODS (vllm/model_executor/layers/quantization/__init__.py)
# less its DEPRECATED_QUANTIZATION_METHODS (fbgemm_fp8, fp_quant: refused at load unless
# --allow-deprecated-quantization). `bitsandbytes` and `gguf` are gone from that list.
# Used where vLLM is not installed (a web host); where it is, its own list wins.
VLLM_033_METHODS = frozenset({
    "awq", "auto_awq", "fp8", "modelopt", "modelopt_fp4", "modelopt_mxfp8", "modelopt_mixed",
    "auto_gptq", "gptq", "gptq_marlin", "awq_marlin", "humming", "compressed-tensors",
    "experts_int8", "quark", "moe_wna16", "torchao", "inc", "mxfp4", "gpt_oss_mxfp4",
    "deepseek_v4_fp8", "online", "fp8_per_tensor", "fp8_per_block", "fp8_per_channel",
    "int8_per_channel_weight_only", "nvfp4_per_token", "mxfp8",
})
# 0.33's name for quantizing bf16 weights to FP8 on load; `fp8` for that is deprecated
# there (it warns and maps), and is the only name in releases before the shorthands.
ONLINE_FP8 = "fp8_per_tensor"
VLLM_ALIASES = {"int4-awq": "awq", "int4-gptq": "gptq", "w8a8-fp8": "fp8", "int8wo": "fp8"}


@functools.lru_cache(maxsize=1)
def vllm_methods() -> frozenset[str]:
    """The quantization names the installed vLLM accepts, or 0.33.0's where vLLM is not installed."""
    try:
        installed = importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        installed = False
    if not installed:
        return VLLM_033_METHODS
    try:
        from vllm.model_executor.layers import quantization as vq
    except Exception:  # a broken install: judge by the release Council targets
        return VLLM_033_METHODS
    return frozenset(vq.QUANTIZATION_METHODS) - frozenset(getattr(vq, "DEPRECATED_QUANTIZATION_METHODS", ()))


def vllm_name(name: str, methods: frozenset[str] | None = None) -> str:
    """`name` as the vLLM with `methods` (default: the installed one) takes it; EngineError if it has none."""
    methods = vllm_methods() if methods is None else methods
    key = VLLM_ALIASES.get(name.lower(), name.lower())
    if key == "fp8" and ONLINE_FP8 in methods:
        key = ONLINE_FP8
    if key not in methods:
        raise EngineError(
            f"vLLM cannot apply quantization {name!r}: use fp8 (quantized on load), or the "
            f"method of an AWQ / GPTQ / compressed-tensors checkpoint (vLLM knows: {', '.join(sorted(methods))})"
        )
    return key


def quantization_error(backend: str, name: str) -> str | None:
    """Why `name` is no quantization `backend` can apply, or None when it can (blank and none always can)."""
    key = (name or "").strip()
    if not key or key.lower() == "none":
        return None
    backend = (backend or "auto").lower()
    torch_ok = key.lower() in TORCH_METHODS or key.lower().startswith(CHECKPOINT_PREFIXES)
    gguf_ok = key.upper() in GGUF_TYPES
    if backend == "openai":
        return None  # the remote server decides; nothing here reads it
    if backend == "vllm":
        try:
            vllm_name(key)
        except EngineError as exc:
            return str(exc)
        return None
    if backend == "llamacpp" and not gguf_ok:
        return f"Unknown GGUF type {name!r} for llama.cpp: use one of {', '.join(GGUF_TYPES)}, none, or leave it blank."
    if backend == "torch" and not torch_ok:
        return (f"Unknown quantization {name!r} for torch: use {', '.join(TORCH_METHODS)} (CUDA), "
                "an awq / gptq checkpoint's method, none, or leave it blank.")
    if backend == "auto" and not (torch_ok or gguf_ok):
        return (f"Unknown quantization {name!r}: use {', '.join(TORCH_METHODS)} (torch on CUDA), a GGUF type "
                "such as Q4_K_M (llama.cpp), an awq / gptq checkpoint's method, none, or leave it blank.")
    return None
