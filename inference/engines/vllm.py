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
import logging
import os
import queue
import threading
from typing import Any, Iterator

from inference.engines.base import Cancellations, Option, Options, Timings
from inference.errors import EngineError
from inference.quantization import vllm_name
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

_VLLM_DTYPES = frozenset({"auto", "bfloat16", "float16", "float32", "half", "float"})

# Each in-process engine's share of its GPU when a model sets none. 0.3 lets a model's FAST
# and THINKING engines and compose's `vllm` service (VLLM_GPU_MEMORY_UTILIZATION, 0.3) share
# one GPU with 10 % left over for CUDA contexts and other processes.
DEFAULT_GPU_MEMORY_UTILIZATION = float(os.environ.get("COUNCIL_VLLM_GPU_MEMORY_UTILIZATION", "0.3"))

OPTIONS = Options(
    Option("gpu_memory_utilization", float, DEFAULT_GPU_MEMORY_UTILIZATION,
           "Share of the GPU's memory this engine may take (default COUNCIL_VLLM_GPU_MEMORY_UTILIZATION, 0.3): "
           "a model's FAST and THINKING engines each take one."),
    Option("prompt_lookup_min", int, 2, "N-gram speculation: the shortest n-gram matched against the prompt."),
    Option("prompt_lookup_max", int, 4, "N-gram speculation: the longest n-gram matched against the prompt."),
    Option("seed", int, None, "vLLM's engine seed."),
    Option("trust_remote_code", bool, False, "Run the model repository's own Python code (true/false)."),
    Option("request_timeout", float, 600.0, "Seconds without output before a request is abandoned."),
    Option("vllm_args", dict, {},
           "JSON object of further AsyncEngineArgs, merged last, e.g. {\"tensor_parallel_size\": 2, \"enforce_eager\": true}."),
)
_POLL_S = 0.05  # how often a waiting stream looks at its cancel flag


def vllm_available() -> bool:
    """Whether vLLM is installed, without importing it (importing it is slow and touches CUDA)."""
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def vllm_quantization(plan: EnginePlan, methods: frozenset[str] | None = None) -> str | None:
    """The plan's quantization as the installed vLLM (or `methods`) names it; None for full precision (THINKING).

    Online FP8 is `fp8_per_tensor` from vLLM 0.33 on (`fp8` is deprecated there for
    quantizing bf16 weights on load) and `fp8` before it.
    """
    if plan.mode is Mode.THINKING or plan.quantization is None:
        return None
    return vllm_name(plan.quantization, methods)


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
        lo = OPTIONS.read(spec, "prompt_lookup_min")
        hi = OPTIONS.read(spec, "prompt_lookup_max")
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

    The model's options (OPTIONS) set `gpu_memory_utilization`, `seed`, `trust_remote_code`
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
        "gpu_memory_utilization": OPTIONS.read(spec, "gpu_memory_utilization"),
        "enable_prefix_caching": True,
        "disable_log_stats": False,  # the engine's periodic stats log; per-request counts do not depend on it
        "trust_remote_code": OPTIONS.read(spec, "trust_remote_code"),
    }
    quantization = vllm_quantization(plan)
    if quantization:
        args["quantization"] = quantization
    spec_config = speculative_config(spec, plan)
    if spec_config:
        args["speculative_config"] = spec_config
        # Per-request acceptance counts on each output's `spec_decode_metrics` (vLLM 0.33:
        # ObservabilityConfig; older releases drop the key, see _filter_supported).
        args["per_request_spec_decode_metrics"] = "summary"
    seed = OPTIONS.read(spec, "seed")
    if seed is not None:
        args["seed"] = seed
    args.update(OPTIONS.read(spec, "vllm_args"))
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
        # vLLM counts reasoning and answer together: both budgets, in one.
        "max_tokens": max(1, min(min(request.max_tokens, plan.max_tokens) + plan.reasoning_max_tokens, room)),
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

    In-process vLLM 0.33 puts them on the completion: `output.outputs[0].spec_decode_metrics`,
    a `RequestSpecDecodeMetrics` (vllm/v1/metrics/stats.py) holding `num_draft_tokens` and
    `histogram`, the count of verify steps by accepted draft tokens j; its `to_dict()` gives
    `num_accepted_draft_tokens` = sum(j * histogram[j]). `output.metrics` there is a
    `RequestStateStats` without them. The HTTP server's response carries the same dict as
    `metrics.speculative_decoding`, which is read too (dicts or attributes).
    """
    outputs = _field(output, "outputs") or []
    sd = _field(outputs[0], "spec_decode_metrics") if outputs else None
    if sd is None:
        sd = _field(_field(output, "metrics"), "speculative_decoding")
    if sd is None:
        return None, None
    if callable(getattr(sd, "to_dict", None)):
        sd = sd.to_dict()
    drafted = _field(sd, "num_draft_tokens")
    accepted = _field(sd, "num_accepted_draft_tokens")
    if accepted is None:
        accepted = _field(sd, "num_accepted_tokens")
    histogram = _field(sd, "histogram") or _field(sd, "acceptance_histogram")
    if accepted is None and isinstance(histogram, list):
        accepted = sum(j * count for j, count in enumerate(histogram))
    per_step = _field(sd, "per_step_accepted")  # `detailed` level only
    if accepted is None and isinstance(per_step, list) and per_step:
        accepted = sum(per_step)
    return (
        drafted if isinstance(drafted, int) else None,
        accepted if isinstance(accepted, int) else None,
    )


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


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


@dataclasses.dataclass
class _Progress:
    """What one stream has received so far: its timings and acceptance counts."""

    timings: Timings
    prompt_tokens: int | None = None
    drafted: int | None = None
    accepted: int | None = None
    splitter: ThinkSplitter = dataclasses.field(default_factory=ThinkSplitter)

    def take(self, output: Any) -> Iterator[StreamEvent]:
        """The deltas of one DELTA RequestOutput; counts its tokens and drafts."""
        piece = output.outputs[0] if output.outputs else None
        if piece is not None and piece.token_ids:
            self.timings.token(len(piece.token_ids))
        drafted, accepted = spec_decode_counts(output)
        if drafted is not None:
            self.drafted, self.accepted = drafted, accepted
        for kind, text in self.splitter.feed(piece.text if piece is not None else ""):
            yield StreamEvent.delta(text, kind)

    def rest(self) -> Iterator[StreamEvent]:
        for kind, text in self.splitter.flush():
            yield StreamEvent.delta(text, kind)

    def metrics(self, base: Metrics) -> Metrics:
        return self.timings.metrics(
            base, prompt_tokens=self.prompt_tokens, draft_tokens=self.drafted, accepted_tokens=self.accepted
        )


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
        self.request_timeout = OPTIONS.read(spec, "request_timeout")
        self._loop = _LoopThread.get()
        self._lock = threading.Lock()
        self._cancels = Cancellations()
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
        self._cancels.cancel(request_id)
        with self._lock:
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
        """Prepare the prompt, submit it to the shared loop, follow its outputs, release it."""
        rid = request.request_id
        progress = _Progress(Timings())
        try:
            prompt_ids, in_think = self._render(request)
            params = sampling_params(self.spec, self.plan, request, len(prompt_ids))
        except Exception as exc:
            self._cancels.discard(rid)
            message = str(exc) if isinstance(exc, EngineError) else f"could not build the prompt for {self.spec.slug}: {exc}"
            yield StreamEvent.failed(message)
            return
        progress.prompt_tokens = len(prompt_ids)
        progress.splitter = ThinkSplitter(in_reasoning=in_think)
        outputs: queue.Queue = queue.Queue()
        future = self._submit(rid, prompt_ids, params, outputs)
        if future is None:
            yield StreamEvent.cancelled(progress.metrics(self._base()))
            return
        try:
            terminal = yield from self._follow(rid, outputs, progress)
        except Exception as exc:  # the protocol: never raise out of stream()
            log.exception("vllm stream %s failed", rid)
            terminal = StreamEvent.failed(f"vLLM stream failed: {exc}", progress.metrics(self._base()))
        finally:
            self._release(rid, future)
        yield terminal

    def _base(self) -> Metrics:
        return Metrics(
            engine="vllm",
            quantization=self.args.get("quantization"),
            speculation=self.plan.speculation if "speculative_config" in self.args else None,
        )

    def _submit(self, rid: str, prompt_ids: list[int], params: dict, outputs: queue.Queue):
        """Start generating on the shared loop; None when the request was cancelled before it started."""
        with self._lock:
            if self._cancels.is_cancelled(rid):
                self._cancels.discard(rid)
                return None
            future = self._loop.submit(self._generate(prompt_ids, params, rid, outputs))
            self._futures[rid] = future
        return future

    def _follow(self, rid: str, outputs: queue.Queue, progress: _Progress) -> Iterator[StreamEvent]:
        """Yield the deltas as outputs arrive; return the terminal event."""
        timeout = self.request_timeout
        waited = 0.0
        while True:
            if self._cancels.is_cancelled(rid):
                return StreamEvent.cancelled(progress.metrics(self._base()))
            try:
                kind, item = outputs.get(timeout=_POLL_S)
            except queue.Empty:
                waited += _POLL_S
                if waited >= timeout:
                    return StreamEvent.failed(
                        f"vLLM produced nothing for {timeout:g}s; request abandoned", progress.metrics(self._base())
                    )
                continue
            waited = 0.0
            if kind == "error":
                return StreamEvent.failed(f"vLLM failed: {item}", progress.metrics(self._base()))
            if kind == "end":
                yield from progress.rest()
                if self._cancels.is_cancelled(rid):
                    return StreamEvent.cancelled(progress.metrics(self._base()))
                return StreamEvent.done(progress.metrics(self._base()))
            yield from progress.take(item)

    def _release(self, rid: str, future: concurrent.futures.Future) -> None:
        """Forget the request; abort it in vLLM unless it ended (cancelled, timed out, or abandoned)."""
        with self._lock:
            self._futures.pop(rid, None)
        self._cancels.discard(rid)
        if not future.done():
            future.cancel()
            self._loop.submit(self._llm.abort(rid))


def load(spec: ModelSpec, plan: EnginePlan) -> VLLMEngine:
    """The registry's entry point; a clear EngineError where vLLM is not installed."""
    return VLLMEngine(spec, plan)
