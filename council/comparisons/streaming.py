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

    def add(self, text: str, kind: str, at: float | None = None, wall: float | None = None) -> list[Chunk]:
        """Take one token's text; the chunks ready to leave. `at` / `wall`: when the token left the engine
        (clock / wall-clock time), when a writer thread takes it later than that."""
        now = self.clock() if at is None else at
        ready = []
        if self._parts and kind != self._kind:
            ready.append(self._take(now))
        if not self._parts:
            self._since = now
            self._first_at = self.wall() if wall is None else wall
            self._kind = kind
        self._parts.append(text)
        quiet = len(self._parts) == 1 and now - self._last_flush >= self.interval
        if quiet or len(self._parts) >= self.max_tokens or now - self._since >= self.interval:
            ready.append(self._take(now))
        return ready

    def flush(self) -> Chunk | None:
        return self._take(self.clock()) if self._parts else None

    def due(self) -> float | None:
        """The clock time by which the parts held must leave; None when none are held."""
        return self._since + self.interval if self._parts else None

    def overdue(self) -> bool:
        return bool(self._parts) and self.clock() >= self._since + self.interval

    def merge(self, chunks: list[Chunk]) -> list[Chunk]:
        """The latest `chunks` as one chunk per run of a kind, numbered on from the first.

        A writer that fell behind (a slow database) catches up in one write, not one per
        chunk it missed. Only for the chunks this buffer produced last, in order.
        """
        merged: list[Chunk] = []
        for chunk in chunks:
            if merged and merged[-1].kind == chunk.kind:
                last = merged[-1]
                merged[-1] = Chunk(last.seq, last.text + chunk.text, last.kind, last.first_token_at)
            else:
                seq = merged[-1].seq + 1 if merged else chunk.seq
                merged.append(Chunk(seq, chunk.text, chunk.kind, chunk.first_token_at))
        if merged:
            self.seq = merged[-1].seq
        return merged

    def _take(self, now: float) -> Chunk:
        self.seq += 1
        self._last_flush = now
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
