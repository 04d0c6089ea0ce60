"""The cores of this process, shared between the answers decoding at once.

Two llama.cpp contexts of 2 threads each on a 2-core host do not share the cores, they
fight over them: each decode step ends at a barrier where every thread of the step waits
for the slowest, so one preempted thread stalls the whole step (measured: 29 % and 48 % of
the solo rates, where 1 + 1 threads keep 77 % and 93 %). So every consumer of decode
threads in this process holds a `Lease`, and runs each decode call inside `lease.step()`,
which says how many threads that call may use:

    with threads.decoding("llamacpp") as lease:   # one consumer, decoding one answer
        for ...:
            with lease.step() as n:               # n threads for this call
                set_threads(n)                    # llama_set_n_threads / torch.set_num_threads
                decode()
        conditions = lease.conditions()           # {"threads", "concurrent_streams", "cores", "decode_by_condition"}

`lease.paced(tokens, set_threads)` does exactly that around a token iterator whose every
`next()` is one decode call (llama-cpp-python's `generate`, the torch engine's loop).

The rule: the threads of the decode calls in flight at any moment sum to at most
`budget()`, the cores this process may use. Shares are recomputed at every step: with N
consumers on C cores each gets C // N threads (the oldest consumers get the remainder);
with more consumers than cores each gets one thread and they take turns, step by step,
first come first served, so no answer stops while others decode.

A batched engine is ONE consumer however many answers it decodes: it takes
`threads.consumer(kind)` for its loop, and `threads.answer()` around each answer so that
`concurrent_streams` (the most answers decoding in this process while this one decoded)
counts every answer of the batch. `snapshot()` shows the state, for health pages and tests.

torch: with this project's OpenMP build, `torch.set_num_threads` sets the calling thread's
OpenMP and MKL thread counts only (tests/inference/test_threads.py checks it), so each
torch decode thread sets its own share before every step, as llama.cpp does per context.
A torch build whose intra-op pool is process-wide would have to run torch consumers one at
a time; `set_torch_threads` is the one place that knows.

Workers on separate hosts each have their own cores and budget. Several worker processes
on one host do not see each other's leases: run one process per host with a thread pool
(`celery worker --pool threads`, the default here), or give each its cores with
COUNCIL_THREADS / taskset.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections import Counter, deque
from typing import Callable, Iterator


def budget() -> int:
    """Cores this process may decode on: COUNCIL_THREADS, else its CPU affinity (every core it may run on)."""
    configured = os.environ.get("COUNCIL_THREADS")
    if configured:
        return max(1, int(configured))
    return _affinity()


@functools.lru_cache(maxsize=1)
def _affinity() -> int:
    """Read once: a system call per decode step costs more than the rest of the step's bookkeeping."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Answer:
    """One answer decoding in this process; `peak` is the most answers decoding at once while it was open."""

    def __init__(self) -> None:
        self.peak = 0


class Lease:
    """One consumer of decode threads (an answer of an unbatched engine, or a batched engine's loop)."""

    def __init__(self, kind: str, answer: Answer | None) -> None:
        self.kind = kind
        self.answer = answer
        self.used: Counter[int] = Counter()  # threads -> decode calls made with that many
        # (threads, answers decoding) -> [tokens, seconds]: the decode rate under each condition
        self.by_condition: dict[tuple[int, int], list[float]] = {}

    def share(self) -> int:
        """The threads this consumer would get for its next step (no waiting)."""
        with _pool.cond:
            return _pool.share(self)

    @contextlib.contextmanager
    def step(self) -> Iterator[int]:
        """Hold `n` of the process's cores for one decode call; waits while they are taken."""
        n = _pool.acquire(self)
        self.used[n] += 1
        try:
            yield n
        finally:
            _pool.release(n)

    def paced(self, tokens: Iterator[int], set_threads: Callable[[int], None]) -> Iterator[int]:
        """Yield from `tokens`, each `next()` (one decode call) inside a step, `set_threads(n)` first when n changed.

        The time from one token to the next is counted under the step's condition
        (threads, answers decoding), for `decode_by_condition`; the first token (prefill)
        is not.
        """
        current = None
        last = None
        try:
            while True:
                with self.step() as n:
                    if n != current:
                        set_threads(n)
                        current = n
                    streams = _pool.answers
                    try:
                        token = next(tokens)
                    except StopIteration:
                        return
                now = time.perf_counter()
                if last is not None:
                    cell = self.by_condition.setdefault((n, streams), [0, 0.0])
                    cell[0] += 1
                    cell[1] += now - last
                last = now
                yield token
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()

    def threads(self) -> int | None:
        """The thread count most of its decode calls ran with."""
        return self.used.most_common(1)[0][0] if self.used else None

    def conditions(self) -> dict:
        """What this consumer decoded under, for Metrics: threads, concurrent_streams, cores, decode_by_condition."""
        return {
            "threads": self.threads(),
            "concurrent_streams": self.answer.peak if self.answer is not None else None,
            "cores": budget(),
            "decode_by_condition": [
                {"threads": n, "streams": streams, "tokens": int(tokens),
                 "tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else None}
                for (n, streams), (tokens, seconds) in sorted(self.by_condition.items())
            ] or None,
        }


class _Pool:
    """The process's cores: the consumers, the answers, and the threads of the steps in flight."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.consumers: list[Lease] = []  # oldest first
        self.open_answers: list[Answer] = []
        self.answers = 0
        self.in_use = 0
        self.queue: deque[object] = deque()  # tickets of steps waiting for cores, first come first served

    def share(self, lease: Lease) -> int:
        """Caller holds cond."""
        return self._share(lease, budget())

    def _share(self, lease: Lease, cores: int) -> int:
        if lease not in self.consumers:
            return cores
        base, extra = divmod(cores, len(self.consumers))
        if base == 0:
            return 1
        return base + (1 if self.consumers.index(lease) < extra else 0)

    def acquire(self, lease: Lease) -> int:
        ticket = object()
        with self.cond:
            self.queue.append(ticket)
            while True:
                cores = budget()
                n = self._share(lease, cores)
                # A budget lowered below one step's share must not block it forever.
                fits = self.in_use + n <= max(cores, n)
                if self.queue[0] is ticket and (fits or self.in_use == 0):
                    self.queue.popleft()
                    self.in_use += n
                    self.cond.notify_all()  # the next in the queue may fit too
                    return n
                self.cond.wait()

    def release(self, n: int) -> None:
        with self.cond:
            self.in_use -= n
            self.cond.notify_all()

    def join(self, lease: Lease | None, answer: Answer | None) -> None:
        with self.cond:
            if lease is not None:
                self.consumers.append(lease)
            if answer is not None:
                self.open_answers.append(answer)
                self.answers += 1
                for each in self.open_answers:
                    each.peak = max(each.peak, self.answers)
            self.cond.notify_all()

    def leave(self, lease: Lease | None, answer: Answer | None) -> None:
        with self.cond:
            if lease is not None:
                self.consumers.remove(lease)
            if answer is not None:
                self.open_answers.remove(answer)
                self.answers -= 1
            self.cond.notify_all()


_pool = _Pool()


@contextlib.contextmanager
def decoding(kind: str) -> Iterator[Lease]:
    """A consumer of threads that decodes one answer (an unbatched engine's generation)."""
    answer = Answer()
    lease = Lease(kind, answer)
    _pool.join(lease, answer)
    try:
        yield lease
    finally:
        _pool.leave(lease, answer)


@contextlib.contextmanager
def consumer(kind: str) -> Iterator[Lease]:
    """A consumer of threads that decodes many answers at once (a batched engine's loop): one share."""
    lease = Lease(kind, None)
    _pool.join(lease, None)
    try:
        yield lease
    finally:
        _pool.leave(lease, None)


@contextlib.contextmanager
def answer() -> Iterator[Answer]:
    """One answer decoding inside a batched engine: counted in every answer's `concurrent_streams`."""
    each = Answer()
    _pool.join(None, each)
    try:
        yield each
    finally:
        _pool.leave(None, each)


def snapshot() -> dict:
    """cores, consumers (by kind), answers decoding, threads in use by the steps in flight, steps waiting."""
    with _pool.cond:
        return {
            "cores": budget(),
            "consumers": [lease.kind for lease in _pool.consumers],
            "answers": _pool.answers,
            "threads_in_use": _pool.in_use,
            "waiting": len(_pool.queue),
        }


def set_torch_threads(n: int) -> None:
    """torch's intra-op threads for the calling thread's next ops (per OS thread with OpenMP; see the module doc)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def with_conditions(events, lease: Lease):
    """Pass `events` through, with the lease's conditions added to the terminal event's metrics."""
    from dataclasses import replace

    for event in events:
        if event.terminal and event.metrics is not None:
            event = replace(event, metrics=replace(event.metrics, **lease.conditions()))
        yield event
