"""The engine protocol every backend implements."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Protocol, runtime_checkable

from inference.errors import EngineError
from inference.text import StopMatcher, ThinkSplitter
from inference.types import GenerationRequest, Metrics, StreamEvent


@runtime_checkable
class Engine(Protocol):
    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Yield zero or more deltas, then exactly one terminal event; never raise."""
        ...

    def cancel(self, request_id: str) -> None:
        """Make the stream of `request_id` end with `cancelled` within one decode step."""
        ...

    def describe(self) -> dict:
        """backend, device, dtype, quantization, speculation: for the UI and metrics."""
        ...


class Cancellations:
    """Thread-safe set of request ids whose streams must end with `cancelled`.

    A cancel may arrive before its stream starts (the request still waits for the
    model's lock), so ids are kept until the stream ends; ids that never stream are
    forgotten after `ttl_s` seconds.
    """

    def __init__(self, ttl_s: float = 600.0) -> None:
        self._ids: dict[str, float] = {}
        self._lock = threading.Lock()
        self._ttl_s = ttl_s

    def cancel(self, request_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._ids = {k: t for k, t in self._ids.items() if now - t < self._ttl_s}
            self._ids[request_id] = now

    def is_cancelled(self, request_id: str) -> bool:
        return request_id in self._ids

    def discard(self, request_id: str) -> None:
        with self._lock:
            self._ids.pop(request_id, None)


@dataclass
class DecodeStats:
    """Speculation counters an engine's token loop updates while it runs."""

    drafted: int = 0
    accepted: int = 0


def stream_tokens(
    request: GenerationRequest,
    tokens: Iterator[int],
    *,
    decode: Callable[[int], str],
    flush: Callable[[], str],
    prompt_tokens: int,
    max_tokens: int,
    stop_token_ids: frozenset[int],
    stop_strings: tuple[str, ...] = (),
    in_reasoning: bool = False,
    strip_start: bool = False,
    is_cancelled: Callable[[], bool],
    started: float,
    base_metrics: Metrics,
    stats: DecodeStats | None = None,
) -> Iterator[StreamEvent]:
    """Turn an engine's token ids into the event stream: deltas, then one terminal event.

    `decode` maps one token id to the text it completes (empty while a character is
    incomplete), `flush` gives what is held back at the end. Stop strings cut the text,
    `<think>` blocks become reasoning deltas, the cancel flag is read after every token,
    and nothing raises: a failure becomes an `error` event. Times are time.perf_counter().
    """
    stopper = StopMatcher(stop_strings)
    splitter = ThinkSplitter(in_reasoning, strip_start)
    count = 0
    first = last = None

    def metrics() -> Metrics:
        now = time.perf_counter()
        decode_s = (last - first) if (first is not None and last is not None) else 0.0
        return replace(
            base_metrics,
            prompt_tokens=prompt_tokens,
            completion_tokens=count,
            ttft_ms=round((first - started) * 1000, 2) if first is not None else None,
            decode_tokens_per_s=round((count - 1) / decode_s, 2) if count > 1 and decode_s > 0 else None,
            total_ms=round((now - started) * 1000, 2),
            draft_tokens=stats.drafted if stats else None,
            accepted_tokens=stats.accepted if stats else None,
        )

    def deltas(text: str) -> Iterator[StreamEvent]:
        for kind, piece in splitter.feed(stopper.feed(text)):
            yield StreamEvent.delta(piece, kind)

    try:
        if is_cancelled():
            yield StreamEvent.cancelled(metrics())
            return
        for token in tokens:
            now = time.perf_counter()
            if token in stop_token_ids:
                break
            count += 1
            if first is None:
                first = now
            last = now
            yield from deltas(decode(token))
            if stopper.stopped or count >= max_tokens:
                break
            if is_cancelled():
                yield StreamEvent.cancelled(metrics())
                return
        yield from deltas(flush())
        tail = stopper.flush()
        for kind, piece in splitter.feed(tail) + splitter.flush():
            yield StreamEvent.delta(piece, kind)
        yield StreamEvent.done(metrics())
    except Exception as exc:  # the protocol: never raise out of stream()
        message = str(exc) if isinstance(exc, EngineError) else f"Generation failed: {type(exc).__name__}: {exc}"
        yield StreamEvent.failed(message, metrics())
    finally:
        close = getattr(tokens, "close", None)
        if close is not None:
            close()
