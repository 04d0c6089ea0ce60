"""Sends work to a worker, interactive answers first and users served fairly.

Celery over Redis, or an in-process pool in embedded mode; both serve the same order.

- `enqueue(responses)`: one task per response, on its model's queue. Each gets a fair
  priority: how many answers the same user already has waiting on that queue. A user's
  n-th waiting answer goes behind every other user's first one, so one user's backlog
  never holds another user's new answer behind all of it.
- `enqueue(responses, background=True)`: at `PRIORITY_BACKGROUND`, behind every waiting
  interactive answer (prompt-set items, anything no one is watching).
- `submit(task, *args, queue=..., priority=...)`: any other Celery task (a quality check,
  a synthesis step) at a priority of the caller's choice; `PRIORITY_BACKGROUND` for work
  that can wait.
- `run_in_background(func, *args, priority=...)`: a plain function on the in-process pool.

Priorities are 0 (served first) to `PRIORITY_BACKGROUND` (served last); among equal
priorities, first queued is first served. Redis keeps one list per priority on each queue
(CELERY_BROKER_TRANSPORT_OPTIONS in settings), so a task already taken by a worker (at
most one per worker slot with prefetch 1) is the only one that can jump the order.

Starting an answer is two steps: `limits.check()` (inside the transaction that creates or
requeues the rows), then `enqueue()` after commit.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import Counter
from concurrent.futures import Future

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from council.comparisons.errors import QueueUnavailable

log = logging.getLogger(__name__)

PRIORITY_INTERACTIVE = 0  # a user's first waiting answer; each further one waits one step more
PRIORITY_BACKGROUND = 9  # after every interactive task on the same queue
PRIORITY_STEPS = list(range(PRIORITY_BACKGROUND + 1))  # kombu's Redis transport: one list each
PRIORITY_SEP = "\x06\x16"  # kombu's default separator in those lists' keys: "<queue><sep><priority>"


def check_available() -> None:
    """Raise QueueUnavailable unless the broker answers a ping within a second."""
    if settings.COUNCIL_INPROCESS_TASKS:
        return
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        log.error("task queue unreachable: %s", exc)
        raise QueueUnavailable("The task queue is unreachable right now; nothing was created. Try again shortly.")


def fair_priorities(responses) -> list[int]:
    """Each response's priority: how many answers its owner already has waiting on its queue.

    Answers of this batch count too, in order, so a comparison of four models on one queue
    takes priorities 0, 1, 2, 3 when its owner had nothing waiting.
    """
    from council.comparisons.models import Response, Status

    ids = [r.id for r in responses]
    keys = [(r.comparison.owner_id, r.model.queue) for r in responses]
    waiting = {}
    for owner_id, queue in set(keys):
        waiting[owner_id, queue] = (
            Response.objects.filter(status=Status.QUEUED, comparison__owner_id=owner_id, model__queue=queue)
            .exclude(id__in=ids)
            .count()
        )
    seen = Counter()
    priorities = []
    for key in keys:
        priorities.append(min(waiting[key] + seen[key], PRIORITY_BACKGROUND - 1))
        seen[key] += 1
    return priorities


def enqueue(responses, *, background: bool = False) -> None:
    """Queue one task per response on its model's queue: fair priorities, or PRIORITY_BACKGROUND."""
    from council.comparisons.runner import run_response
    from council.comparisons.tasks import run_response_task

    responses = list(responses)
    if not responses:
        return
    priorities = [PRIORITY_BACKGROUND] * len(responses) if background else fair_priorities(responses)
    for response, priority in zip(responses, priorities):
        if settings.COUNCIL_INPROCESS_TASKS:
            run_in_background(run_response, str(response.id), priority=priority)
            continue
        try:
            run_response_task.apply_async(args=[str(response.id)], queue=response.model.queue, priority=priority)
        except Exception as exc:  # broker down: say so in the column rather than leave it queued
            log.error("could not queue response %s: %s", response.id, exc)
            _fail_unqueued(response, f"The task queue is unreachable ({exc.__class__.__name__}); try again.")


def submit(task, *args, queue: str, priority: int = PRIORITY_INTERACTIVE):
    """Send a Celery task (a `@shared_task`) to `queue` at `priority`; in embedded mode, run it in process.

    Raises whatever the broker raises when it is down: the caller knows what that means.
    """
    if settings.COUNCIL_INPROCESS_TASKS:
        return run_in_background(task, *args, priority=priority)
    return task.apply_async(args=list(args), queue=queue, priority=priority)


def _fail_unqueued(response, message: str) -> None:
    from council.comparisons.events import publish_status
    from council.comparisons.models import Response, Status

    changed = Response.objects.filter(id=response.id, status=Status.QUEUED).update(
        status=Status.FAILED, error=message, finished_at=timezone.now()
    )
    if changed:
        publish_status(response.comparison_id, response.id, Status.FAILED, error=message)


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
