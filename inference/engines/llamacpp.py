"""llama.cpp through llama-cpp-python: FAST on CPU hosts, on a GGUF file as it is.

The token loop is llama-cpp-python's own `Llama.generate` (sampling in C, KV-cache
prefix reuse across requests), so the engine costs little over raw llama-cpp-python;
`python -m inference bench` measures that overhead. Prompt-lookup speculation, when a
model asks for it, runs in `_speculative_tokens`: a batch decode of the drafted tokens
and a greedy-exact check of each, with exact drafted/accepted counts.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from typing import Iterator, Sequence

from inference import gguf, speculative, threads
from inference.engines.base import Cancellations, DecodeStats, budgets, stream_tokens
from inference.errors import EngineError
from inference.gguf import chat_format_of_file
from inference.text import END_OF_TURN_TOKENS, Utf8Stream, opens_reasoning
from inference.types import EnginePlan, GenerationRequest, Metrics, ModelSpec, StreamEvent


def load(spec: ModelSpec, plan: EnginePlan) -> "LlamaCppEngine":
    return LlamaCppEngine(spec, plan, gguf.path_for(spec))


def default_threads() -> int:
    """Threads for llama.cpp: COUNCIL_LLAMACPP_THREADS, else every core this process may use."""
    value = os.environ.get("COUNCIL_LLAMACPP_THREADS")
    if value:
        return max(1, int(value))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# llama.cpp's flash-attention kernel for every context. Measured on this project's CPU
# hosts (AVX2, llama-cpp-python 0.3.36 built natively): the other attention path gives
# wrong logits for the last position of a batched prompt read (SmolLM2 greedy answers
# "La femme de France, ..." to "What is the capital of France?" on the first call and
# "Paris" once the prompt is cached), so the first answer of every prompt was corrupt.
FLASH_ATTENTION = True


def open_llama(path: str, *, n_ctx: int, logits_all: bool = False, seed: int | None = None):
    """A `llama_cpp.Llama` on `path`, quiet, on every core; EngineError when it cannot load."""
    if not path or not os.path.exists(path):
        raise EngineError(f"GGUF file not found: {path!r}. Check the model's gguf_file / source path.")
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise EngineError("llama-cpp-python is not installed; `pip install llama-cpp-python`.") from exc
    n_threads = default_threads()
    kwargs = {"seed": seed} if seed is not None else {}
    try:
        with gguf.open_lock:
            return Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                logits_all=logits_all,
                flash_attn=FLASH_ATTENTION,
                verbose=False,
                **kwargs,
            )
    except Exception as exc:
        raise EngineError(f"llama.cpp could not load {path}: {exc}") from exc


def set_batch_outputs(batch, tokens: Sequence[int], *, n_past: int, outputs: Sequence[bool]) -> None:
    """Fill a llama_cpp LlamaBatch with `tokens` at positions n_past.., one sequence, logits where
    `outputs` says (llama-cpp-python's own set_batch offers only all or the last)."""
    raw = batch.batch
    raw.n_tokens = len(tokens)
    for i, token in enumerate(tokens):
        raw.token[i] = token
        raw.pos[i] = n_past + i
        raw.seq_id[i][0] = 0
        raw.n_seq_id[i] = 1
        raw.logits[i] = bool(outputs[i])


class LlamaCppEngine:
    """One GGUF model in llama.cpp; one generation at a time (a lock around the context)."""

    def __init__(self, spec: ModelSpec, plan: EnginePlan, path: str | None) -> None:
        self.spec = spec
        self.plan = plan
        self.path = path or ""
        self.llm = open_llama(self.path, n_ctx=spec.context_length)
        self.n_ctx = self.llm.n_ctx()
        self._vocab = self.llm._model.vocab
        self._pieces: dict[int, bytes] = {}
        self.chat = chat_format_of_file(self.path, spec.chat_template)
        self.stop_token_ids = self._stop_ids()
        self._lock = threading.Lock()
        self._cancels = Cancellations()

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        base = Metrics(engine="llamacpp", quantization=self.plan.quantization, speculation=self.plan.speculation)
        try:
            prompt = self.chat.render(request.messages, reasoning=self.plan.reasoning)
            ids = self.tokenize_prompt(prompt)
        except Exception as exc:
            yield StreamEvent.failed(f"Could not format the conversation for {self.spec.slug}: {exc}", base)
            self._cancels.discard(request.request_id)
            return
        if len(ids) >= self.n_ctx:
            yield StreamEvent.failed(
                f"The prompt is {len(ids)} tokens long but {self.spec.name or self.spec.slug} takes at most "
                f"{self.n_ctx - 1} (its context is {self.n_ctx}); shorten the prompt or the system prompt.",
                base,
            )
            self._cancels.discard(request.request_id)
            return
        max_tokens, max_reasoning = budgets(request, self.plan, self.n_ctx - len(ids))
        with self._lock:
            try:
                yield from self._generate(request, ids, (max_tokens, max_reasoning), started, base, opens_reasoning(prompt))
            finally:
                self._cancels.discard(request.request_id)

    def cancel(self, request_id: str) -> None:
        self._cancels.cancel(request_id)

    def describe(self) -> dict:
        return {
            "backend": "llamacpp",
            "device": "cpu",
            "dtype": self.plan.dtype,
            "quantization": self.plan.quantization,
            "speculation": self.plan.speculation,
            "path": self.path,
            "context_length": self.n_ctx,
            "threads": default_threads(),
        }

    def approx_bytes(self) -> int:
        """Weights (the file, memory-mapped) plus the KV cache at full context, f16."""
        n_layer = int(self.llm.metadata.get(f"{self._arch()}.block_count", 0) or 0)
        n_embd = int(self.llm.metadata.get(f"{self._arch()}.embedding_length", 0) or 0)
        return os.path.getsize(self.path) + 2 * 2 * n_layer * n_embd * self.n_ctx

    def tokenize_prompt(self, prompt: str) -> list[int]:
        """Prompt ids: special tokens parsed, BOS added only when the template left it out."""
        ids = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if self.chat.needs_bos(prompt):
            ids = [self.llm.token_bos(), *ids]
        return ids

    def tokenize_text(self, text: str) -> list[int]:
        """Ids of plain text: no special tokens parsed, no BOS (an answer, for teacher forcing)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def prefill_logits(self, ids: list[int], start: int):
        """Logits predicting ids[start:], from one prefill over ids (teacher forcing, for quality checks).

        Batches of n_batch tokens through llama_decode, asking for logits only at the positions
        needed (llama_get_logits_ith); the context's KV cache then holds `ids`, recorded as such,
        so the next generation reuses what it shares with them.

        # ids: [T] -> logits: [T - start, V] float32 numpy
        """
        import numpy as np

        if not 0 < start <= len(ids):
            raise ValueError(f"start {start} must be within 1..{len(ids)}")
        if len(ids) > self.n_ctx:
            raise EngineError(f"{len(ids)} tokens do not fit the context of {self.n_ctx}.")
        llm = self.llm
        n_vocab = llm.n_vocab()
        rows = []
        with self._lock:
            llm.reset()
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            for lo in range(0, len(ids), llm.n_batch):
                chunk = list(ids[lo : lo + llm.n_batch])
                wanted = [start - 1 <= lo + i < len(ids) - 1 for i in range(len(chunk))]
                set_batch_outputs(llm._batch, chunk, n_past=lo, outputs=wanted)
                llm._ctx.decode(llm._batch)
                llm.input_ids[lo : lo + len(chunk)] = chunk
                llm.n_tokens = lo + len(chunk)
                for i, want in enumerate(wanted):
                    if want:
                        rows.append(np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(n_vocab,)).copy())
            llm._requires_eval = True  # generate() must not take these logits as its own
        return np.stack(rows).astype(np.float32, copy=False)

    def piece(self, token: int) -> bytes:
        """The bytes of one token (a byte-fallback token is part of a UTF-8 character)."""
        cached = self._pieces.get(token)
        if cached is None:
            from llama_cpp import llama_cpp

            buf = ctypes.create_string_buffer(256)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            cached = self._pieces[token] = buf.raw[: max(n, 0)]
        return cached

    def _token_text(self, token: int) -> str:
        from llama_cpp import llama_cpp

        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        return buf.raw[: max(n, 0)].decode("utf-8", errors="replace")

    def _stop_ids(self) -> frozenset[int]:
        from llama_cpp import llama_cpp

        ids = {self.llm.token_eos()}
        for text in END_OF_TURN_TOKENS:
            found = self.llm.tokenize(text.encode(), add_bos=False, special=True)
            if len(found) == 1 and self._token_text(found[0]) == text:
                ids.add(found[0])
        ids.update(t for t in range(self.llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(self._vocab, t))
        return frozenset(t for t in ids if t >= 0)

    def _arch(self) -> str:
        return self.llm.metadata.get("general.architecture", "llama")

    def _generate(self, request, ids, limits, started, base, in_reasoning) -> Iterator[StreamEvent]:
        max_tokens, max_reasoning = limits
        greedy = request.temperature <= 0
        stats = None
        if self.plan.speculation == "ngram" and greedy:
            stats = DecodeStats()
            tokens = self._speculative_tokens(ids, stats)
        else:
            if not greedy:
                self.llm.set_seed(request.seed if request.seed is not None else int.from_bytes(os.urandom(4), "little"))
            tokens = self.llm.generate(
                ids,
                temp=max(request.temperature, 0.0),
                top_p=request.top_p,
                top_k=0,
                min_p=0.0,
                typical_p=1.0,
                repeat_penalty=1.0,
            )
        utf8 = Utf8Stream()
        with threads.decoding("llamacpp") as lease:
            events = stream_tokens(
                request,
                lease.paced(tokens, self._set_threads),
                decode=lambda t: utf8.feed(self.piece(t)),
                flush=utf8.flush,
                prompt_tokens=len(ids),
                max_tokens=max_tokens,
                max_reasoning_tokens=max_reasoning,
                stop_token_ids=self.stop_token_ids,
                stop_strings=tuple(request.stop) + self.chat.stop_strings,
                in_reasoning=in_reasoning,
                strip_start=self.chat.strip_leading_space,
                is_cancelled=lambda: self._cancels.is_cancelled(request.request_id),
                started=started,
                base_metrics=base,
                stats=stats,
            )
            yield from threads.with_conditions(events, lease)

    def _set_threads(self, n: int) -> None:
        """Threads for the next decode call: this answer's share of the cores (inference.threads)."""
        from llama_cpp import llama_cpp

        n = min(n, default_threads())
        llama_cpp.llama_set_n_threads(self.llm._ctx.ctx, n, n)

    def _speculative_tokens(self, ids: Sequence[int], stats: DecodeStats) -> Iterator[int]:
        """Greedy decoding with prompt-lookup drafts (`speculative.prompt_lookup`), verified in one batch per step.

        Drives llama-cpp-python's context below `Llama.generate`, which has no batch verify.
        """
        import numpy as np

        llm = self.llm
        n_vocab = llm.n_vocab()
        k = max(1, self.plan.num_speculative_tokens)
        llm.reset()
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        llm._requires_eval = True  # generate() must not reuse our logits as its own

        def decode(batch: list[int]) -> list[int]:
            """Decode `batch` after the cached tokens; the argmax after each of its positions."""
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past : n_past + len(batch)] = batch
            llm.n_tokens += len(batch)
            out = []
            for i in range(len(batch)):
                row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(i), shape=(n_vocab,))
                out.append(int(row.argmax()))
            return out

        # Prefill in chunks of n_batch; only the last position's argmax matters.
        for start in range(0, len(ids), llm.n_batch):
            chunk = list(ids[start : start + llm.n_batch])
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=chunk, n_past=n_past, logits_all=False)
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past : n_past + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
        row = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,))

        def rollback(n: int) -> None:
            """Drop the KV entries of the last `n` (rejected) tokens."""
            llm.n_tokens -= n
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)

        yield from speculative.prompt_lookup(
            list(ids),
            int(row.argmax()),
            k=k,
            room=lambda: self.n_ctx - llm.n_tokens - 1,  # KV slots left after the next token's
            verify=decode,
            rollback=rollback,
            stats=stats,
        )
