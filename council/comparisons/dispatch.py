"""Sends work to a worker, interactive answers first and users served fairly.

Celery over Redis, or an in-process pool in embedded mode; both serve the same order.

- `enqueue(responses)`: one task per response, on its model's queue. Each gets a fair
  priority: how many answers the same user already has waiting on that queue. A user's
  n-th waiting answer goes behind every other user's first one, so one user's backlog
  never holds another user's new answer behind all of it.
- `enqueue(responses, background=True)`: at `PRIORITY_BACKGROUND`, behind every waiting
  interactive answer (prompt-set items, anything no one is watching).

Any other task (a quality check, a synthesis step, a catalog measurement) goes through
council/background.py (`submit`, `run_in_background`), which holds the priorities and
the in-process pool.

Starting an answer is two steps: `limits.check()` (inside the transaction that creates or
requeues the rows), then `enqueue()` after commit.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.conf import settings
from django.utils import timezone

from council.background import (  # noqa: F401  the priorities, re-exported for the comparisons app
    PRIORITY_BACKGROUND,
    PRIORITY_INTERACTIVE,
    PRIORITY_SEP,
    PRIORITY_STEPS,
    run_in_background,
    submit,
)
from council.comparisons.errors import QueueUnavailable

log = logging.getLogger(__name__)


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


def _fail_unqueued(response, message: str) -> None:
    from council.comparisons.events import publish_status
    from council.comparisons.models import Response, Status

    changed = Response.objects.filter(id=response.id, status=Status.QUEUED).update(
        status=Status.FAILED, error=message, finished_at=timezone.now()
    )
    if changed:
        publish_status(response.comparison_id, response.id, Status.FAILED, error=message)
