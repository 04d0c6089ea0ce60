"""Coalesces an engine's token deltas into numbered messages, and tracks live figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from inference import Timings


@dataclass(frozen=True)
class Chunk:
    seq: int
    text: str
    kind: str  # answer | reasoning
    first_token_at: float  # wall-clock time (time.time()) of its first token, for latency figures


@dataclass
class DeltaBuffer:
    """Every `interval` seconds or `max_tokens` deltas, whichever first, one Chunk.

    A token that arrives after a quiet `interval` (the first token, or any token of a
    slow model) leaves at once, alone: coalescing only ever delays a fast stream.
    A change of kind (reasoning → answer) flushes first, so a chunk never mixes kinds.
    """

    interval: float = 0.05
    max_tokens: int = 16
    clock: callable = time.monotonic
    wall: callable = time.time
    seq: int = 0
    _parts: list[str] = field(default_factory=list)
    _kind: str | None = None
    _since: float = 0.0
    _first_at: float = 0.0
    _last_flush: float = float("-inf")

    def add(self, text: str, kind: str) -> list[Chunk]:
        ready = []
        if self._parts and kind != self._kind:
            ready.append(self._take())
        if not self._parts:
            self._since = self.clock()
            self._first_at = self.wall()
            self._kind = kind
        self._parts.append(text)
        now = self.clock()
        quiet = len(self._parts) == 1 and now - self._last_flush >= self.interval
        if quiet or len(self._parts) >= self.max_tokens or now - self._since >= self.interval:
            ready.append(self._take())
        return ready

    def flush(self) -> Chunk | None:
        return self._take() if self._parts else None

    def _take(self) -> Chunk:
        self.seq += 1
        self._last_flush = self.clock()
        chunk = Chunk(self.seq, "".join(self._parts), self._kind, self._first_at)
        self._parts = []
        return chunk


class LiveFigures(Timings):
    """Figures shown under a column while it streams; the engine's Metrics replace them at the end."""

    KEYS = ("completion_tokens", "ttft_ms", "decode_tokens_per_s")

    def __init__(self) -> None:
        super().__init__(clock=time.monotonic)

    def as_dict(self) -> dict:
        figures = self.figures()
        return {key: figures[key] for key in self.KEYS}
