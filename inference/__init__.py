"""Council's inference layer: engines that stream tokens, with no Django in sight.

This module is its one public face: the web side (council/) imports the names below
and nothing deeper. Importable without a GPU, without vLLM and without torch: heavy
imports happen inside the engine that needs them.
"""

from inference.bench import bench_model
from inference.bundled import BUNDLED, BundledModel
from inference.engines.base import Engine
from inference.errors import EngineError
from inference.plan import BACKENDS, QUANTIZATIONS, SPECULATIVE_METHODS, THINKING_DTYPES, detect_device, resolve, token_budget
from inference.registry import clear as clear_engines
from inference.registry import get_engine
from inference.registry import install as install_engine
from inference.registry import loaded as loaded_engines
from inference.types import DeltaKind, EnginePlan, GenerationRequest, Message, Metrics, Mode, ModelSpec, StreamEvent


def is_bundled(source: str) -> bool:
    """Whether `source` names a model that ships with the install."""
    return source in BUNDLED


def vllm_available() -> bool:
    """Whether vLLM is installed, without importing it (cheap enough for a system check)."""
    from inference.engines import vllm

    return vllm.vllm_available()


__all__ = [
    "BACKENDS",
    "BUNDLED",
    "QUANTIZATIONS",
    "SPECULATIVE_METHODS",
    "THINKING_DTYPES",
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
    "StreamEvent",
    "bench_model",
    "clear_engines",
    "detect_device",
    "get_engine",
    "install_engine",
    "is_bundled",
    "loaded_engines",
    "resolve",
    "token_budget",
    "vllm_available",
]
