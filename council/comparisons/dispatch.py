"""Sends each response to a worker: Celery over Redis, or in-process in embedded mode."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from council.comparisons.errors import QueueUnavailable

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None


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


def enqueue(responses) -> None:
    """Queue one task per response, routed to its model's queue."""
    if settings.COUNCIL_INPROCESS_TASKS:
        from council.comparisons.runner import run_response

        for response in responses:
            run_in_background(run_response, str(response.id))
        return

    from council.comparisons.tasks import run_response_task

    for response in responses:
        try:
            run_response_task.apply_async(args=[str(response.id)], queue=response.model.queue)
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


def run_in_background(func, *args):
    """Run `func(*args)` on the in-process task pool (embedded mode), with fresh DB connections.

    Returns the Future, so a caller may wait on it with a timeout.
    """
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="council-task")

    def call():
        close_old_connections()
        try:
            return func(*args)
        except Exception:
            log.exception("in-process task %s crashed", getattr(func, "__name__", func))
            raise
        finally:
            close_old_connections()

    return _executor.submit(call)
