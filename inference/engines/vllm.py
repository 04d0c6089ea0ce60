"""vLLM in-process: one AsyncLLM per (model, mode), its asyncio loop on a background thread.

Celery runs tasks on threads (see docs/gpu.md); every task of a worker process submits
its request to the same AsyncLLM through one shared event loop, so vLLM batches them
continuously. The vLLM V1 API used here: `vllm.v1.engine.async_llm.AsyncLLM`
(`from_engine_args`, `generate`, `abort`, `shutdown`), `vllm.engine.arg_utils.AsyncEngineArgs`,
`vllm.sampling_params.SamplingParams` with `RequestOutputKind.DELTA`.

vLLM is an optional extra (`pip install 'council[vllm]'`), 0.11 or newer: engines load
on a Celery task's thread, which older V1 releases refused (vllm-project/vllm#23298). Everything that maps a
ModelSpec / EnginePlan / GenerationRequest to vLLM's arguments is a pure function on
plain dicts, importable and testable without vLLM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import importlib.util
import json
import logging
import queue
import threading
import time
from typing import Any, Iterator

from inference.errors import EngineError
from inference.text import ThinkSplitter, opens_reasoning
from inference.types import (
    EnginePlan,
    GenerationRequest,
    Metrics,
    Mode,
    ModelSpec,
    StreamEvent,
)

log = logging.getLogger(__name__)

# `quantization=` values of vLLM's engine args that Council passes through. AWQ / GPTQ
# name a pre-quantized checkpoint; fp8 quantizes bf16 weights on load (W8A8 on Hopper
# and Ada, weight-only through Marlin on Ampere).
VLLM_QUANTIZATIONS = frozenset(
    {
        "fp8", "awq", "awq_marlin", "gptq", "gptq_marlin", "compressed-tensors",
        "bitsandbytes", "modelopt", "fbgemm_fp8", "gguf", "torchao", "mxfp4",
    }
)
_QUANTIZATION_ALIASES = {"int4-awq": "awq", "int4-gptq": "gptq", "w8a8-fp8": "fp8"}
_VLLM_DTYPES = frozenset({"auto", "bfloat16", "float16", "float32", "half", "float"})

DEFAULT_GPU_MEMORY_UTILIZATION = 0.45  # FAST and THINKING of one model share a GPU
DEFAULT_PROMPT_LOOKUP_MIN = 2
DEFAULT_PROMPT_LOOKUP_MAX = 4
DEFAULT_REQUEST_TIMEOUT_S = 600.0  # longest wait for the next output before giving up
_POLL_S = 0.05  # how often a waiting stream looks at its cancel flag


def vllm_available() -> bool:
    """Whether vLLM is installed, without importing it (importing it is slow and touches CUDA)."""
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def _extra(spec: ModelSpec) -> dict[str, str]:
    return dict(spec.extra)


def _int_option(spec: ModelSpec, key: str, default: int) -> int:
    raw = _extra(spec).get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise EngineError(f"model {spec.slug}: extra option {key}={raw!r} is not an integer") from exc


def _float_option(spec: ModelSpec, key: str, default: float) -> float:
    raw = _extra(spec).get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise EngineError(f"model {spec.slug}: extra option {key}={raw!r} is not a number") from exc


def vllm_quantization(plan: EnginePlan) -> str | None:
    """The plan's quantization as vLLM names it; None for full precision (THINKING)."""
    if plan.mode is Mode.THINKING or plan.quantization is None:
        return None
    name = plan.quantization.lower()
    name = _QUANTIZATION_ALIASES.get(name, name)
    if name not in VLLM_QUANTIZATIONS:
        raise EngineError(
            f"vLLM cannot apply quantization {plan.quantization!r}: use fp8 (quantized on "
            f"load), or an AWQ / GPTQ checkpoint with quantization awq / gptq "
            f"(known: {', '.join(sorted(VLLM_QUANTIZATIONS))})"
        )
    return name


def speculative_config(spec: ModelSpec, plan: EnginePlan) -> dict | None:
    """vLLM's `speculative_config` for the plan: n-gram prompt lookup, a draft model or EAGLE.

    THINKING never speculates. `extra` may set prompt_lookup_min / prompt_lookup_max for
    n-gram (the shortest and longest n-gram matched against the prompt).
    """
    method = plan.speculation
    if plan.mode is Mode.THINKING or method in (None, "none"):
        return None
    k = plan.num_speculative_tokens
    if k < 1:
        raise EngineError(f"model {spec.slug}: num_speculative_tokens must be at least 1, got {k}")
    if method == "ngram":
        lo = _int_option(spec, "prompt_lookup_min", DEFAULT_PROMPT_LOOKUP_MIN)
        hi = _int_option(spec, "prompt_lookup_max", DEFAULT_PROMPT_LOOKUP_MAX)
        if not 1 <= lo <= hi:
            raise EngineError(
                f"model {spec.slug}: need 1 <= prompt_lookup_min <= prompt_lookup_max, got {lo}, {hi}"
            )
        return {
            "method": "ngram",
            "num_speculative_tokens": k,
            "prompt_lookup_min": lo,
            "prompt_lookup_max": hi,
        }
    if method in ("draft", "eagle", "eagle3"):
        draft = plan.draft_model or spec.draft_model
        if not draft:
            raise EngineError(
                f"model {spec.slug}: speculation {method!r} needs a draft_model (a model "
                f"directory or hub id of a {'draft' if method == 'draft' else 'EAGLE head'})"
            )
        return {
            "method": "draft_model" if method == "draft" else method,
            "model": draft,
            "num_speculative_tokens": k,
        }
    raise EngineError(f"model {spec.slug}: vLLM has no speculation method {method!r}")


def engine_args(spec: ModelSpec, plan: EnginePlan) -> dict:
    """Keyword arguments of `AsyncEngineArgs` for (model, plan), as a plain dict.

    `extra` may hold `gpu_memory_utilization`, `seed`, `trust_remote_code` ("1"/"true")
    and `vllm_args`: a JSON object merged last (tensor_parallel_size, enforce_eager, ...).
    """
    if plan.engine != "vllm":
        raise EngineError(f"model {spec.slug}: the plan chose engine {plan.engine!r}, not vllm")
    dtype = plan.dtype if plan.dtype in _VLLM_DTYPES else "auto"
    if plan.mode is Mode.THINKING and dtype == "auto":
        dtype = "bfloat16"
    args: dict[str, Any] = {
        "model": spec.source,
        "dtype": dtype,
        "max_model_len": spec.context_length,
        "gpu_memory_utilization": _float_option(
            spec, "gpu_memory_utilization", DEFAULT_GPU_MEMORY_UTILIZATION
        ),
        "enable_prefix_caching": True,
        "disable_log_stats": False,  # per-request metrics ride on the stats path
        "trust_remote_code": _extra(spec).get("trust_remote_code", "").lower() in ("1", "true", "yes"),
    }
    quantization = vllm_quantization(plan)
    if quantization:
        args["quantization"] = quantization
    spec_config = speculative_config(spec, plan)
    if spec_config:
        args["speculative_config"] = spec_config
        # Per-request acceptance counts (experimental upstream, newer vLLM only: the
        # engine drops keys its AsyncEngineArgs does not have).
        args["per_request_spec_decode_metrics"] = "summary"
    if "seed" in _extra(spec):
        args["seed"] = _int_option(spec, "seed", 0)
    raw = _extra(spec).get("vllm_args")
    if raw:
        try:
            overrides = json.loads(raw)
        except ValueError as exc:
            raise EngineError(f"model {spec.slug}: extra option vllm_args is not JSON: {exc}") from exc
        if not isinstance(overrides, dict):
            raise EngineError(f"model {spec.slug}: extra option vllm_args must be a JSON object")
        args.update(overrides)
    return args


def sampling_params(spec: ModelSpec, plan: EnginePlan, request: GenerationRequest, prompt_tokens: int = 0) -> dict:
    """Keyword arguments of `SamplingParams` (the engine adds output_kind=DELTA).

    The token budget is the request's, capped by the mode's and by what the context
    window leaves after the prompt.
    """
    room = spec.context_length - prompt_tokens
    if room < 1:
        raise EngineError(
            f"the prompt is {prompt_tokens} tokens, which leaves no room in "
            f"{spec.slug}'s context of {spec.context_length}; shorten it"
        )
    params: dict[str, Any] = {
        "max_tokens": max(1, min(request.max_tokens, plan.max_tokens, room)),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "skip_special_tokens": True,
    }
    if request.stop:
        params["stop"] = list(request.stop)
    if request.seed is not None:
        params["seed"] = request.seed
    return params


def chat_template_kwargs(spec: ModelSpec, plan: EnginePlan) -> dict:
    """Extra chat-template variables: Qwen3-style `enable_thinking` where the model has it."""
    return {"enable_thinking": plan.reasoning} if spec.supports_reasoning else {}


def spec_decode_counts(output: Any) -> tuple[int | None, int | None]:
    """(drafted, accepted) draft tokens of one request from a vLLM RequestOutput, if exposed.

    Newer vLLM attaches them when `per_request_spec_decode_metrics` is on, as
    `metrics.speculative_decoding` (num_draft_tokens, num_accepted_draft_tokens); the shape
    is experimental upstream, so this reads attributes or keys and returns None otherwise.
    """

    def get(obj: Any, name: str) -> Any:
        if isinstance(obj, dict):
            return obj.get(name)
        return getattr(obj, name, None)

    sd = get(get(output, "metrics"), "speculative_decoding")
    if sd is None:
        outputs = get(output, "outputs") or []
        sd = get(outputs[0], "spec_decode_metrics") if outputs else None
    if sd is None:
        return None, None
    drafted = get(sd, "num_draft_tokens")
    accepted = get(sd, "num_accepted_draft_tokens")
    if accepted is None:
        accepted = get(sd, "num_accepted_tokens")
    if accepted is None and isinstance(get(sd, "per_step_accepted"), list):
        accepted = sum(get(sd, "per_step_accepted"))
    return (
        drafted if isinstance(drafted, int) else None,
        accepted if isinstance(accepted, int) else None,
    )


class _LoopThread:
    """The process's one asyncio loop for vLLM, on a daemon thread."""

    _instance: _LoopThread | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vllm-asyncio", daemon=True)
        self.thread.start()

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


def _filter_supported(cls: type, kwargs: dict) -> dict:
    """Drop keys a dataclass does not have, so optional newer settings do not break older vLLM."""
    try:
        names = {f.name for f in dataclasses.fields(cls)}
    except TypeError:
        return kwargs
    dropped = sorted(set(kwargs) - names)
    if dropped:
        log.info("this vLLM has no engine args %s; left out", ", ".join(dropped))
    return {k: v for k, v in kwargs.items() if k in names}


class VLLMEngine:
    """In-process vLLM AsyncLLM behind the Engine protocol. Construction loads the model."""

    def __init__(self, spec: ModelSpec, plan: EnginePlan, *, llm: Any = None, tokenizer: Any = None) -> None:
        """Load `spec` per `plan`. `llm` / `tokenizer` replace the loaded ones (tests, where
        no vLLM can run: anything with vLLM's async generate / abort / shutdown)."""
        if llm is None and not vllm_available():
            raise EngineError(
                f"model {spec.slug} is configured for the vllm backend but vLLM is not "
                "installed in this worker: pip install 'council[vllm]' on a GPU host, or "
                "serve it with `vllm serve` and use the openai backend"
            )
        self.spec = spec
        self.plan = plan
        self.args = engine_args(spec, plan)
        self._loop = _LoopThread.get()
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()  # ids of requests asked to stop; dropped when they end
        self._futures: dict[str, concurrent.futures.Future] = {}
        if llm is not None:
            self._llm, self._tokenizer = llm, tokenizer
            return
        try:
            self._tokenizer = self._load_tokenizer()
            self._llm = self._create()
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"vLLM could not load {spec.source}: {exc}") from exc

    def _create(self):
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        # Built on the calling thread, not the loop thread, so loading a second model
        # does not stall streams already running. With no running loop here, AsyncLLM
        # starts its output handler on the first generate(), i.e. on the shared loop.
        return AsyncLLM.from_engine_args(AsyncEngineArgs(**_filter_supported(AsyncEngineArgs, self.args)))

    def _load_tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(
            self.spec.source, trust_remote_code=self.args.get("trust_remote_code", False)
        )

    def describe(self) -> dict:
        return {
            "backend": "vllm",
            "device": "cuda",
            "dtype": self.args["dtype"],
            "quantization": self.args.get("quantization"),
            "speculation": self.plan.speculation if "speculative_config" in self.args else None,
            "num_speculative_tokens": self.plan.num_speculative_tokens
            if "speculative_config" in self.args
            else 0,
        }

    def close(self) -> None:
        self._llm.shutdown()

    def cancel(self, request_id: str) -> None:
        with self._lock:
            if len(self._cancelled) > 4096:  # cancels of requests that never came
                self._cancelled.clear()
            self._cancelled.add(request_id)
            future = self._futures.get(request_id)
        if future is not None:
            future.cancel()  # generate() sees CancelledError and aborts the request itself
            self._loop.submit(self._llm.abort(request_id))

    def _render(self, request: GenerationRequest) -> tuple[list[int], bool]:
        """Prompt token ids, and whether the template already opened a think block."""
        text = self._tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in request.messages],
            tokenize=False,
            add_generation_prompt=True,
            chat_template=self.spec.chat_template,
            **chat_template_kwargs(self.spec, self.plan),
        )
        # The template already carries BOS and the like: no second set of special tokens.
        ids = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids), opens_reasoning(text)

    def _metrics(self, **figures: Any) -> Metrics:
        return Metrics(
            engine="vllm",
            quantization=self.args.get("quantization"),
            speculation=self.plan.speculation if "speculative_config" in self.args else None,
            **figures,
        )

    @staticmethod
    def _sampling_params(params: dict) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        # DELTA: each RequestOutput carries only the new text and token ids.
        return SamplingParams(**params, output_kind=RequestOutputKind.DELTA)

    async def _generate(self, prompt_ids: list[int], params: dict, request_id: str, out: queue.Queue) -> None:
        try:
            sp = self._sampling_params(params)
            async for output in self._llm.generate({"prompt_token_ids": prompt_ids}, sp, request_id):
                out.put(("output", output))
            out.put(("end", None))
        except asyncio.CancelledError:
            out.put(("end", None))
            raise
        except Exception as exc:
            out.put(("error", exc))

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        rid = request.request_id
        t0 = time.perf_counter()
        try:
            prompt_ids, in_think = self._render(request)
            params = sampling_params(self.spec, self.plan, request, len(prompt_ids))
        except EngineError as exc:
            yield StreamEvent.failed(str(exc))
            return
        except Exception as exc:
            yield StreamEvent.failed(f"could not build the prompt for {self.spec.slug}: {exc}")
            return

        outputs: queue.Queue = queue.Queue()
        with self._lock:
            if rid in self._cancelled:
                self._cancelled.discard(rid)
                yield StreamEvent.cancelled(self._metrics(prompt_tokens=len(prompt_ids)))
                return
            future = self._loop.submit(self._generate(prompt_ids, params, rid, outputs))
            self._futures[rid] = future

        splitter = ThinkSplitter(in_reasoning=in_think)
        completion = 0
        t_first = t_last = None
        drafted = accepted = None
        timeout = _float_option(self.spec, "request_timeout", DEFAULT_REQUEST_TIMEOUT_S)
        waited = 0.0
        terminal: StreamEvent | None = None

        def figures() -> dict:
            decode = None
            if completion > 1 and t_first is not None and t_last is not None and t_last > t_first:
                decode = (completion - 1) / (t_last - t_first)
            return dict(
                prompt_tokens=len(prompt_ids),
                completion_tokens=completion,
                ttft_ms=(t_first - t0) * 1000 if t_first is not None else None,
                decode_tokens_per_s=decode,
                total_ms=(time.perf_counter() - t0) * 1000,
                draft_tokens=drafted,
                accepted_tokens=accepted,
            )

        try:
            while terminal is None:
                if rid in self._cancelled:
                    terminal = StreamEvent.cancelled(self._metrics(**figures()))
                    break
                try:
                    kind, item = outputs.get(timeout=_POLL_S)
                except queue.Empty:
                    waited += _POLL_S
                    if waited >= timeout:
                        terminal = StreamEvent.failed(
                            f"vLLM produced nothing for {timeout:g}s; request abandoned",
                            self._metrics(**figures()),
                        )
                    continue
                waited = 0.0
                if kind == "error":
                    terminal = StreamEvent.failed(f"vLLM failed: {item}", self._metrics(**figures()))
                elif kind == "end":
                    for k, text in splitter.flush():
                        yield StreamEvent.delta(text, k)
                    terminal = (
                        StreamEvent.cancelled(self._metrics(**figures()))
                        if rid in self._cancelled
                        else StreamEvent.done(self._metrics(**figures()))
                    )
                else:
                    piece = item.outputs[0] if item.outputs else None
                    if piece is not None and piece.token_ids:
                        now = time.perf_counter()
                        t_first = now if t_first is None else t_first
                        t_last = now
                        completion += len(piece.token_ids)
                    d, a = spec_decode_counts(item)
                    if d is not None:
                        drafted, accepted = d, a
                    for k, text in splitter.feed(piece.text if piece is not None else ""):
                        yield StreamEvent.delta(text, k)
        except Exception as exc:  # the protocol: never raise out of stream()
            log.exception("vllm stream %s failed", rid)
            terminal = StreamEvent.failed(f"vLLM stream failed: {exc}", self._metrics(**figures()))
        finally:
            with self._lock:
                self._futures.pop(rid, None)
                self._cancelled.discard(rid)
            if not future.done():  # cancelled, timed out, or the consumer walked away
                future.cancel()
                self._loop.submit(self._llm.abort(rid))
        yield terminal


def load(spec: ModelSpec, plan: EnginePlan) -> VLLMEngine:
    """The registry's entry point; a clear EngineError where vLLM is not installed."""
    return VLLMEngine(spec, plan)
