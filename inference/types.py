"""The value types passed between the web side, the plan and the engines."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Mode(str, enum.Enum):
    """How a model is served: FAST (quantized, speculative) or THINKING (full precision)."""

    FAST = "fast"
    THINKING = "thinking"


class DeltaKind(str, enum.Enum):
    ANSWER = "answer"
    REASONING = "reasoning"


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ModelSpec:
    """What can be served and how: everything an engine needs, with no Django in it.

    `source` is a bundled slug (see inference.bundled), a local directory or file, a
    hub id, or for the `openai` backend the server's base URL. `backend` is `auto`
    (the plan picks from mode and device), `torch`, `llamacpp`, `vllm` or `openai`.
    """

    slug: str
    source: str
    name: str = ""
    description: str = ""
    backend: str = "auto"
    gguf_file: str | None = None  # quantized weights for llama.cpp (FAST on CPU)
    chat_template: str | None = None  # jinja; None = the model's own
    context_length: int = 2048
    default_max_tokens: int = 256  # the answer budget: the same in FAST and THINKING
    max_tokens_limit: int = 4096
    temperature: float = 0.7
    top_p: float = 1.0
    supports_reasoning: bool = False
    # FAST
    quantization: str | None = None  # None = the plan's default for the device
    speculative_method: str = "auto"  # auto | none | ngram | draft | eagle
    draft_model: str | None = None
    num_speculative_tokens: int = 4
    # THINKING
    thinking_dtype: str | None = None  # None = bf16 on CUDA, fp32 on CPU
    reasoning_max_tokens: int | None = None  # reasoning tokens on top of the answer; None = 3 x the answer budget
    # remote (openai backend): per-mode remote model names; key never logged
    api_key: str = field(default="", repr=False)
    remote_model_fast: str | None = None
    remote_model_thinking: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EnginePlan:
    """How one (model, mode, device) is served: the plan's whole decision."""

    engine: str  # torch | llamacpp | vllm | openai
    mode: Mode
    device: str  # cpu | cuda | remote
    dtype: str  # float32 | bfloat16 | float16 | q4_1 | ...
    quantization: str | None  # None = full precision
    speculation: str | None  # None | ngram | draft | eagle
    num_speculative_tokens: int
    draft_model: str | None
    reasoning: bool
    max_tokens: int  # the answer budget, the same in both modes (ceiling for a request)
    reasoning_max_tokens: int = 0  # THINKING with reasoning: tokens of reasoning on top of the answer

    @property
    def total_max_tokens(self) -> int:
        """Reasoning and answer together: the budget of an engine that cannot count them apart."""
        return self.max_tokens + self.reasoning_max_tokens


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    messages: tuple[Message, ...]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Metrics:
    """Figures of one generation. Times in milliseconds, speeds in tokens per second."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None  # reasoning included
    reasoning_tokens: int | None = None  # where the engine counts them apart
    ttft_ms: float | None = None
    decode_tokens_per_s: float | None = None  # prefill excluded
    total_ms: float | None = None
    draft_tokens: int | None = None
    accepted_tokens: int | None = None
    engine: str | None = None
    quantization: str | None = None
    speculation: str | None = None
    # The conditions it ran under (inference.threads): the threads most of its decode calls
    # had, the cores this process shares between answers, the most answers decoding in this
    # process while it decoded, the largest batch it decoded in, and its decode rate under
    # each (threads, answers decoding) condition, so that rates are compared like for like.
    threads: int | None = None
    cores: int | None = None
    concurrent_streams: int | None = None
    batch_size: int | None = None
    decode_by_condition: tuple[dict, ...] | None = None
    load_ms: float | None = None  # the model load this answer waited for; never part of ttft_ms

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class StreamEvent:
    """One event of a stream: deltas, then exactly one of done / error / cancelled."""

    type: str  # delta | done | error | cancelled
    text: str = ""
    kind: DeltaKind = DeltaKind.ANSWER
    metrics: Metrics | None = None
    error: str | None = None
    # What a remote server said about the error (its body, shortened): for staff and logs,
    # never shown to the person who asked, since whoever runs the server writes it.
    detail: str | None = None

    @property
    def terminal(self) -> bool:
        return self.type != "delta"

    @classmethod
    def delta(cls, text: str, kind: DeltaKind = DeltaKind.ANSWER) -> StreamEvent:
        return cls("delta", text=text, kind=kind)

    @classmethod
    def done(cls, metrics: Metrics) -> StreamEvent:
        return cls("done", metrics=metrics)

    @classmethod
    def failed(cls, message: str, metrics: Metrics | None = None, detail: str | None = None) -> StreamEvent:
        return cls("error", error=message, metrics=metrics, detail=detail)

    @classmethod
    def cancelled(cls, metrics: Metrics | None = None) -> StreamEvent:
        return cls("cancelled", metrics=metrics)
