"""Hugging Face transformers on CPU or CUDA: THINKING everywhere, FAST on CUDA.

Our own token loop (prefill, then one forward per token with the KV cache) rather than
`generate()`: a cancel is seen after every step, timings are exact, and the prompt-lookup
speculative step is a plain function of (draft, logits). FAST on CUDA adds torchao
weight-only quantization, a static cache and `torch.compile` (CUDA graphs); those paths
are guarded and have not run on this project's CPU-only CI (see scripts/gpu_check.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from inference import gguf, speculative, threads
from inference.engines.base import Cancellations, DecodeStats, budgets, stream_tokens
from inference.errors import EngineError
from inference.text import END_OF_TURN_TOKENS, ChatFormat, IncrementalDetokenizer, chat_format_for, opens_reasoning
from inference.types import EnginePlan, GenerationRequest, Metrics, ModelSpec, StreamEvent

log = logging.getLogger(__name__)

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16"}


# One transformers load at a time in a process: from_pretrained changes process-wide state
# while it builds a model (the default dtype, the empty-weights context that puts new
# parameters on the meta device), so a second load in another thread got parameters on
# "meta" ("Cannot copy out of meta tensor; no data!"), and a second thread importing
# transformers mid-import saw it partially initialised.
_load_lock = threading.RLock()


def load(spec: ModelSpec, plan: EnginePlan) -> "TorchEngine":
    return TorchEngine(spec, plan)


def model_dir(spec: ModelSpec) -> tuple[str, str | None]:
    """(directory or hub id, gguf file name or None) that transformers loads for `spec`."""
    from inference import bundled

    if spec.source in bundled.BUNDLED:
        return str(bundled.transformers_dir(spec.source)), None
    if spec.source.lower().endswith(".gguf"):
        path = Path(spec.source)
        return str(path.parent), path.name
    return spec.source, None


def tokenizer_chat_format(tokenizer, override: str | None = None) -> ChatFormat:
    """The chat format of a Hugging Face tokenizer (a model with no GGUF file)."""
    return chat_format_for(
        getattr(tokenizer, "chat_template", None),
        bos_token=tokenizer.bos_token or "",
        eos_token=tokenizer.eos_token or "",
        add_bos=bool(getattr(tokenizer, "add_bos_token", False)),
        override=override,
    )


class TorchEngine:
    """One transformers model; one generation at a time (a lock around the model)."""

    def __init__(self, spec: ModelSpec, plan: EnginePlan, *, model=None, tokenizer=None) -> None:
        """Loads `spec` as `plan` says; tests may pass a ready `model` and `tokenizer`."""
        with _load_lock:
            self._load(spec, plan, model, tokenizer)

    def _load(self, spec: ModelSpec, plan: EnginePlan, model, tokenizer) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ModuleNotFoundError as exc:
            raise EngineError(f"The torch engine needs torch and transformers ({exc}): pip install torch transformers") from exc
        self.torch = torch
        self.spec = spec
        self.plan = plan
        self.device = plan.device
        if self.device == "cuda" and not torch.cuda.is_available():
            raise EngineError(f"{spec.slug} is planned on CUDA but torch sees no GPU in this worker.")
        self.dtype = getattr(torch, DTYPES.get(plan.dtype, plan.dtype))
        if model is None or tokenizer is None:
            source, gguf_file = model_dir(spec)
            kwargs = {"gguf_file": gguf_file} if gguf_file else {}
            try:
                tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype, **kwargs)
            except OSError as exc:
                raise EngineError(f"transformers could not load {source!r} for {spec.slug}: {exc}") from exc
        self.tokenizer = tokenizer
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.quantization = self._quantize(plan.quantization)
        config = self.model.config.get_text_config(decoder=True)
        limit = getattr(config, "max_position_embeddings", None) or spec.context_length
        self.n_ctx = min(spec.context_length, limit)
        gguf_path = gguf.path_for(spec)
        if gguf_path and os.path.exists(gguf_path):
            self.chat = gguf.chat_format_of_file(gguf_path, spec.chat_template)
        else:
            self.chat = tokenizer_chat_format(self.tokenizer, spec.chat_template)
        self.stop_token_ids = self._stop_ids()
        self._compiled = False
        if self.device == "cuda" and plan.mode.value == "fast":
            self._compile()
        self._lock = threading.Lock()
        self._cancels = Cancellations()

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        base = Metrics(engine="torch", quantization=self.quantization, speculation=self.plan.speculation)
        try:
            prompt = self.chat.render(request.messages, reasoning=self.plan.reasoning)
            ids = self.tokenize_prompt(prompt)
        except Exception as exc:
            self._cancels.discard(request.request_id)
            yield StreamEvent.failed(f"Could not format the conversation for {self.spec.slug}: {exc}", base)
            return
        if len(ids) >= self.n_ctx:
            self._cancels.discard(request.request_id)
            yield StreamEvent.failed(
                f"The prompt is {len(ids)} tokens long but {self.spec.name or self.spec.slug} takes at most "
                f"{self.n_ctx - 1} (its context is {self.n_ctx}); shorten the prompt or the system prompt.",
                base,
            )
            return
        max_tokens, max_reasoning = budgets(request, self.plan, self.n_ctx - len(ids))
        greedy = request.temperature <= 0
        stats = DecodeStats() if (self.plan.speculation == "ngram" and greedy) else None
        if stats is None:
            base = Metrics(engine="torch", quantization=self.quantization, speculation=None)
        with self._lock:
            try:
                if stats is not None:
                    tokens = self.speculative_tokens(ids, stats, max_tokens + max_reasoning)
                else:
                    tokens = self.tokens(ids, request, max_tokens + max_reasoning)
                detok = IncrementalDetokenizer(lambda t: self.tokenizer.decode(t, skip_special_tokens=True))
                with threads.decoding("torch") as lease:
                    events = stream_tokens(
                        request,
                        lease.paced(tokens, threads.set_torch_threads),
                        decode=detok.feed,
                        flush=detok.flush,
                        prompt_tokens=len(ids),
                        max_tokens=max_tokens,
                        max_reasoning_tokens=max_reasoning,
                        stop_token_ids=self.stop_token_ids,
                        stop_strings=tuple(request.stop) + self.chat.stop_strings,
                        in_reasoning=opens_reasoning(prompt),
                        strip_start=self.chat.strip_leading_space,
                        is_cancelled=lambda: self._cancels.is_cancelled(request.request_id),
                        started=started,
                        base_metrics=base,
                        stats=stats,
                    )
                    yield from threads.with_conditions(events, lease)
            finally:
                self._cancels.discard(request.request_id)

    def cancel(self, request_id: str) -> None:
        self._cancels.cancel(request_id)

    def describe(self) -> dict:
        return {
            "backend": "torch",
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "quantization": self.quantization,
            "speculation": self.plan.speculation,
            "compiled": self._compiled,
            "context_length": self.n_ctx,
            "threads": self.torch.get_num_threads(),
        }

    def approx_bytes(self) -> int:
        """Parameters and buffers; the KV cache grows per request and is freed after it."""
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)

    def tokenize_prompt(self, prompt: str) -> list[int]:
        """Prompt ids: special tokens parsed, BOS added only when the template left it out."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if self.chat.needs_bos(prompt):
            ids = [self.tokenizer.convert_tokens_to_ids(self.chat.bos_token), *ids]
        return list(ids)

    def tokenize_text(self, text: str) -> list[int]:
        """Ids of plain text: no special tokens parsed or added (an answer, for teacher forcing)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _stop_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        eos = self.model.generation_config.eos_token_id if self.model.generation_config else None
        ids.update(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
        return frozenset(ids)

    def logits(self, ids: list[int]):
        """Logits after every position of `ids` in one pass (teacher forcing, for the bench).

        # ids: [T] -> logits: [T, V] float32 on the CPU
        """
        torch = self.torch
        with self._lock, torch.inference_mode():
            x = torch.tensor([ids], device=self.device)
            return self.model(input_ids=x, use_cache=False).logits[0].float().cpu()

    def prefill_logits(self, ids: list[int], start: int):
        """Logits predicting ids[start:], from one pass over ids (teacher forcing, for quality checks).

        Only the rows needed are computed past the last layer (`logits_to_keep`). Without the
        engine's lock on an eager model: a forward pass with no cache changes no state, so a
        quality check never waits for an answer decoding on this engine (a compiled model
        keeps its lock: CUDA graphs replay shared buffers).

        # ids: [T] -> logits: [T - start, V] float32 numpy
        """
        if not 0 < start <= len(ids):
            raise ValueError(f"start {start} must be within 1..{len(ids)}")
        torch = self.torch
        lock = self._lock if self._compiled else contextlib.nullcontext()
        with lock, torch.inference_mode():
            x = torch.tensor([ids], device=self.device)  # [1, T]
            logits = self.model(input_ids=x, use_cache=False, logits_to_keep=len(ids) - start + 1).logits[0]
        return logits[:-1].float().cpu().numpy()  # the last row predicts past the end

    def _new_cache(self, total: int):
        from transformers import DynamicCache, StaticCache

        if self._compiled:
            return StaticCache(config=self.model.config, max_cache_len=self.n_ctx)
        return DynamicCache(config=self.model.config)

    def _forward(self, ids, cache, last_only: bool):
        """One forward over `ids` after the cached ones.  # ids: [1, T] -> logits: [T or 1, V]"""
        out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1 if last_only else 0)
        return out.logits[0]

    def tokens(self, ids: list[int], request: GenerationRequest, max_tokens: int) -> Iterator[int]:
        """Plain decoding: prefill, then one forward per token."""
        torch = self.torch
        generator = None
        if request.temperature > 0:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(request.seed if request.seed is not None else int.from_bytes(os.urandom(4), "little"))
        with torch.inference_mode():
            cache = self._new_cache(len(ids) + max_tokens)
            logits = self._forward(torch.tensor([ids], device=self.device), cache, last_only=True)  # [1, V]
            for _ in range(max_tokens):
                token = speculative.sample(logits, request.temperature, request.top_p, generator)  # [1]
                value = int(token.item())
                yield value
                logits = self._forward(token.view(1, 1), cache, last_only=True)

    def speculative_tokens(self, ids: list[int], stats: DecodeStats, max_tokens: int) -> Iterator[int]:
        """Greedy decoding with prompt-lookup drafts, verified in one forward per step.

        Output equals plain greedy decoding (`speculative.prompt_lookup`); rejected drafts
        are cropped from the KV cache (a static cache just rewinds its length).
        """
        torch = self.torch
        k = max(1, self.plan.num_speculative_tokens)
        history = list(ids)

        def verify(batch: list[int]) -> list[int]:
            logits = self._forward(torch.tensor([batch], device=self.device), cache, last_only=False)  # [1+K, V]
            return speculative.greedy(logits).tolist()  # [1+K]

        with torch.inference_mode():
            cache = self._new_cache(len(ids) + max_tokens + k)
            if hasattr(cache, "activate_past_recording"):
                cache.activate_past_recording()  # sliding-window layers can then roll back
            logits = self._forward(torch.tensor([ids], device=self.device), cache, last_only=True)  # [1, V]
            yield from speculative.prompt_lookup(
                history,
                int(logits.argmax(dim=-1).item()),
                k=k,
                room=lambda: min(self.n_ctx - len(history), len(ids) + max_tokens - len(history)),
                verify=verify,
                rollback=lambda n: cache.crop(-n),
                stats=stats,
            )

    def _quantize(self, method: str | None) -> str | None:
        """torchao weight-only quantization on CUDA; returns what was applied (None: nothing)."""
        if not method or self.device != "cuda":
            return None
        try:
            from torchao.quantization import quantize_
            import torchao.quantization as tq
        except ImportError:
            log.warning("torchao is not installed: %s runs FAST unquantized", self.spec.slug)
            return None
        configs = {
            "int8wo": ("Int8WeightOnlyConfig", "int8_weight_only"),
            "int8": ("Int8WeightOnlyConfig", "int8_weight_only"),
            "fp8": ("Float8WeightOnlyConfig", "float8_weight_only"),
            "int4wo": ("Int4WeightOnlyConfig", "int4_weight_only"),
        }
        names = configs.get(method)
        if names is None:
            log.warning("unknown quantization %s for %s: left unquantized", method, self.spec.slug)
            return None
        factory = getattr(tq, names[0], None) or getattr(tq, names[1], None)
        if factory is None:
            return None
        quantize_(self.model, factory())
        return method

    def _compile(self) -> None:
        """Static cache + torch.compile(mode='reduce-overhead'): CUDA graphs for the decode step."""
        try:
            self.model.forward = self.torch.compile(self.model.forward, mode="reduce-overhead", dynamic=True)
            self._compiled = True
        except Exception as exc:  # compile is an optimization: fall back to eager
            log.warning("torch.compile failed for %s, running eager: %s", self.spec.slug, exc)
