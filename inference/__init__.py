"""Council's inference layer: engines that stream tokens, with no Django in sight.

This module is its one public face: the web side (council/) imports the names below
and nothing deeper. Importable without a GPU, without vLLM and without torch: heavy
imports happen inside the engine that needs them.
"""

from inference.bench import RawChat, bench_model
from inference.bundled import BUNDLED, BundledModel
from inference.engines.base import Engine, Option, Timings, extra_from_options
from inference.engines.base import option_errors as _option_errors
from inference.errors import EngineError
from inference.plan import BACKENDS, QUANTIZATIONS, SPECULATIVE_METHODS, THINKING_DTYPES, detect_device, known_quantization, resolve, token_budget
from inference.plan import ThinkingWeights, reasoning_budget, thinking_weights
from inference.quality import Quality
from inference.quality import can_measure as can_measure_quality
from inference.quality import measure as measure_quality
from inference.quality import not_measured as quality_not_measured
from inference.quantization import GGUF_TYPES, VLLM_RELEASE, quantization_error
from inference.registry import clear as clear_engines
from inference.registry import engine_options, get_engine, get_engine_timed
from inference.registry import is_loaded as is_engine_loaded
from inference.registry import preload as preload_engines
from inference.registry import install as install_engine
from inference.registry import loaded as loaded_engines
from inference.types import DeltaKind, EnginePlan, GenerationRequest, Message, Metrics, Mode, ModelSpec, StreamEvent


def is_bundled(source: str) -> bool:
    """Whether `source` names a model that ships with the install."""
    return source in BUNDLED


def option_errors(backend: str, values: dict) -> list[tuple[str, str]]:
    """(option, message) for each of a model's `values` its backend's engines would not take."""
    return _option_errors(engine_options(backend), values)


def vllm_available() -> bool:
    """Whether vLLM is installed, without importing it (cheap enough for a system check)."""
    from inference.engines import vllm

    return vllm.vllm_available()


__all__ = [
    "BACKENDS",
    "BUNDLED",
    "GGUF_TYPES",
    "QUANTIZATIONS",
    "RawChat",
    "SPECULATIVE_METHODS",
    "THINKING_DTYPES",
    "VLLM_RELEASE",
    "BundledModel",
    "DeltaKind",
    "Engine",
    "EngineError",
    "EnginePlan",
    "GenerationRequest",
    "Message",
    "Metrics",
    "Mode",
    "ModelSpec",
    "Option",
    "Quality",
    "StreamEvent",
    "ThinkingWeights",
    "Timings",
    "bench_model",
    "can_measure_quality",
    "clear_engines",
    "detect_device",
    "engine_options",
    "extra_from_options",
    "get_engine",
    "get_engine_timed",
    "install_engine",
    "is_bundled",
    "is_engine_loaded",
    "known_quantization",
    "loaded_engines",
    "measure_quality",
    "option_errors",
    "preload_engines",
    "quality_not_measured",
    "reasoning_budget",
    "quantization_error",
    "resolve",
    "thinking_weights",
    "token_budget",
    "vllm_available",
]
