"""The engine protocol every backend implements, and the toolkit every engine shares.

Timings to metrics, the cancel registry, typed reads of a model's options
(`ModelSpec.extra`) and the token-to-event loop of the local engines.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

from inference.errors import EngineError
from inference.text import StopMatcher, ThinkSplitter
from inference.types import EnginePlan, GenerationRequest, Metrics, ModelSpec, StreamEvent


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


class Timings:
    """When a stream started, saw its first and its latest token, and how many: its speed figures.

    Times come from `clock` (seconds); the figures are in milliseconds and tokens per
    second, with decode speed taken from the first token to the last, so prefill is excluded.
    """

    def __init__(self, started: float | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock() if started is None else started
        self.first: float | None = None
        self.last: float | None = None
        self.tokens = 0

    def token(self, count: int = 1) -> None:
        """`count` more tokens arrived now."""
        now = self.clock()
        if self.first is None:
            self.first = now
        self.last = now
        self.tokens += count

    def figures(self, tokens: int | None = None) -> dict:
        """completion_tokens, ttft_ms, decode_tokens_per_s, total_ms; `tokens` overrides the count."""
        count = self.tokens if tokens is None else tokens
        decode_s = self.last - self.first if self.first is not None and self.last is not None else 0.0
        return {
            "completion_tokens": count,
            "ttft_ms": round((self.first - self.started) * 1000, 2) if self.first is not None else None,
            "decode_tokens_per_s": round((count - 1) / decode_s, 2) if count and count > 1 and decode_s > 0 else None,
            "total_ms": round((self.clock() - self.started) * 1000, 2),
        }

    def metrics(self, base: Metrics, tokens: int | None = None, **known: Any) -> Metrics:
        """`base` (engine, quantization, ...) with these figures and the `known` ones filled in."""
        return replace(base, **self.figures(tokens), **known)


@dataclass(frozen=True)
class Option:
    """One per-model setting an engine reads from `ModelSpec.extra`."""

    name: str
    kind: type  # int | float | bool | str | dict (a JSON object)
    default: Any
    help: str


class Options:
    """The options one engine declares, and typed reads of them from a model's `extra`.

    `extra` holds strings (the catalog's JSON values, non-strings encoded as JSON): a
    value that does not parse as its option's kind is an EngineError naming the model.
    """

    def __init__(self, *declared: Option) -> None:
        self.declared = {option.name: option for option in declared}

    def __iter__(self) -> Iterator[Option]:
        return iter(self.declared.values())

    def read(self, spec: ModelSpec, name: str) -> Any:
        """The value of option `name` for `spec`: parsed when set, its default otherwise."""
        option = self.declared[name]
        raw = dict(spec.extra).get(name)
        if raw is None or raw == "":
            return option.default
        try:
            return parse_option(option, raw)
        except ValueError as exc:
            raise EngineError(f"model {spec.slug}: option {name}={raw!r} {exc}") from None


def extra_from_options(values: dict) -> tuple[tuple[str, str], ...]:
    """A model's options (a JSON object) as `ModelSpec.extra`: strings as they are, other values as JSON."""
    return tuple(
        sorted((str(name), value if isinstance(value, str) else json.dumps(value)) for name, value in values.items())
    )


def option_errors(declared: Iterable[Option], values: dict) -> list[tuple[str, str]]:
    """(option, message) for each of `values` that is not a declared option or does not parse as its kind."""
    known = {option.name: option for option in declared}
    errors = []
    for name, raw in extra_from_options(values):
        option = known.get(name)
        if option is None:
            names = ", ".join(known) or "none"
            errors.append((name, f"{name} is not an option of this backend (its options: {names})."))
            continue
        try:
            parse_option(option, raw)
        except ValueError as exc:
            errors.append((name, f"{name}={raw} {exc}."))
    return errors


def parse_option(option: Option, raw: str) -> Any:
    """`raw` as `option.kind`; ValueError says what it should be."""
    if option.kind is bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes"):
            return True
        if value in ("0", "false", "no"):
            return False
        raise ValueError("is not true or false")
    if option.kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("is not an integer") from None
    if option.kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError("is not a number") from None
    if option.kind is dict:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        return value
    return raw


def budgets(request: GenerationRequest, plan: EnginePlan, room: int) -> tuple[int, int]:
    """(answer tokens, reasoning tokens) for one request: the request's answer budget capped by
    the plan's, the plan's reasoning budget, both within the `room` the context leaves."""
    answer = max(1, min(request.max_tokens, plan.max_tokens, room))
    return answer, max(0, min(plan.reasoning_max_tokens, room - answer))


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
    max_reasoning_tokens: int = 0,
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
    incomplete), `flush` gives what is held back at the end. `max_tokens` is the answer's
    budget; with `max_reasoning_tokens`, tokens inside `<think>` count against that budget
    instead (without it, against the answer's, as every token does). Stop strings cut the text,
    `<think>` blocks become reasoning deltas, the cancel flag is read after every token,
    and nothing raises: a failure becomes an `error` event. Times are time.perf_counter().
    """
    stopper = StopMatcher(stop_strings)
    splitter = ThinkSplitter(in_reasoning, strip_start)
    timings = Timings(started)
    reasoning_tokens = 0

    def metrics() -> Metrics:
        return timings.metrics(
            base_metrics,
            prompt_tokens=prompt_tokens,
            reasoning_tokens=reasoning_tokens if max_reasoning_tokens else None,
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
            if token in stop_token_ids:
                break
            timings.token()
            thinking = splitter.in_reasoning
            yield from deltas(decode(token))
            if max_reasoning_tokens and (thinking or splitter.in_reasoning):
                reasoning_tokens += 1
            if stopper.stopped or timings.tokens - reasoning_tokens >= max_tokens or (
                max_reasoning_tokens and reasoning_tokens >= max_reasoning_tokens
            ):
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
