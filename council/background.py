"""Work off the request: a Celery task on a queue at a priority, or the in-process pool in embedded mode.

Priorities are 0 (served first) to `PRIORITY_BACKGROUND` (served last); among equal
priorities, first queued is first served. Redis keeps one list per priority on each queue
(CELERY_BROKER_TRANSPORT_OPTIONS in settings), so a task already taken by a worker (at
most one per worker slot with prefetch 1) is the only one that can jump the order.

- `submit(task, *args, queue=..., priority=...)`: a Celery task (a `@shared_task`) at a
  priority of the caller's choice; `PRIORITY_BACKGROUND` for work that can wait.
- `run_in_background(func, *args, priority=...)`: a plain function on the in-process pool.

The comparisons' own answers go through comparisons/dispatch.py, which gives them fair
priorities first.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from concurrent.futures import Future

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

PRIORITY_INTERACTIVE = 0  # a user's first waiting answer; each further one waits one step more
PRIORITY_BACKGROUND = 9  # after every interactive task on the same queue
PRIORITY_STEPS = list(range(PRIORITY_BACKGROUND + 1))  # kombu's Redis transport: one list each
PRIORITY_SEP = "\x06\x16"  # kombu's default separator in those lists' keys: "<queue><sep><priority>"


def submit(task, *args, queue: str, priority: int = PRIORITY_INTERACTIVE):
    """Send a Celery task (a `@shared_task`) to `queue` at `priority`; in embedded mode, run it in process.

    Raises whatever the broker raises when it is down: the caller knows what that means.
    """
    if settings.COUNCIL_INPROCESS_TASKS:
        return run_in_background(task, *args, priority=priority)
    return task.apply_async(args=list(args), queue=queue, priority=priority)


class PriorityPool:
    """A fixed set of threads taking work from a priority queue: lowest priority first, then first come."""

    def __init__(self, max_workers: int, thread_name_prefix: str):
        self.max_workers = max_workers
        self.thread_name_prefix = thread_name_prefix
        self._heap: list = []
        self._order = itertools.count()  # ties in priority go first in, first out
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []

    def submit(self, priority: int, func, *args) -> Future:
        future = Future()
        with self._ready:
            heapq.heappush(self._heap, (priority, next(self._order), future, func, args))
            if len(self._threads) < self.max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self.thread_name_prefix}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._ready.notify()
        return future

    def waiting(self) -> int:
        with self._ready:
            return len(self._heap)

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap:
                    self._ready.wait()
                _, _, future, func, args = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func(*args))
            except BaseException as exc:
                future.set_exception(exc)


_pool: PriorityPool | None = None
_pool_lock = threading.Lock()


def run_in_background(func, *args, priority: int = PRIORITY_INTERACTIVE) -> Future:
    """Run `func(*args)` on the in-process task pool (embedded mode), with fresh DB connections.

    Lower `priority` runs first. Returns the Future, so a caller may wait on it with a timeout.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = PriorityPool(max_workers=2, thread_name_prefix="council-task")

    def call():
        close_old_connections()
        try:
            return func(*args)
        except Exception:
            log.exception("in-process task %s crashed", getattr(func, "__name__", func))
            raise
        finally:
            close_old_connections()

    return _pool.submit(priority, call)
