"""The staff-only health page: workers, their queues and loaded models, queue depths, recent failures.

A project-level view: it reads the catalog (models, worker heartbeats) and the comparisons
(failed answers), so that neither app imports the other's internals for it.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from council.background import PRIORITY_SEP, PRIORITY_STEPS
from council.catalog import heartbeat
from inference import loaded_engines

log = logging.getLogger(__name__)

RECENT_FAILURES = 20
FAILURES_PERMISSION = "comparisons.view_response"


def _celery_workers() -> tuple[dict, str | None]:
    """{hostname: [queue, ...]} of the workers answering a ping within a second."""
    from council.celery import app

    try:
        inspect = app.control.inspect(timeout=1)
        pings = inspect.ping() or {}
        queues = inspect.active_queues() or {} if pings else {}
    except Exception as exc:
        return {}, f"Could not reach the workers: {type(exc).__name__}: {exc}"
    return {name: sorted(q["name"] for q in queues.get(name, [])) for name in pings}, None


def _queue_depths(queues: set[str]) -> tuple[dict, str | None]:
    """Tasks waiting in each queue: the lengths of its Redis lists, one per priority (kombu's layout)."""
    import redis

    def lists(queue):
        return [queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        return {queue: sum(client.llen(key) for key in lists(queue)) for queue in sorted(queues)}, None
    except Exception as exc:
        return {}, f"Could not read the queue lengths: {type(exc).__name__}: {exc}"


def _in_process_runner() -> dict:
    return {
        "hostname": "this web process (embedded task runner)",
        "pid": os.getpid(),
        "queues": ["(all, in process)"],
        "loaded": loaded_engines(),
        "rss_bytes": heartbeat.rss_bytes(),
        "at": None,
    }


def _recent_failures():
    from council.comparisons.models import Response, Status

    return (
        Response.objects.filter(status=Status.FAILED)
        .select_related("model")
        .order_by("-finished_at", "-queued_at")[:RECENT_FAILURES]
    )


@require_GET
@staff_member_required
def health(request):
    from council.catalog.models import LanguageModel

    model_queues = set(LanguageModel.objects.values_list("queue", flat=True))
    context = {"embedded": settings.COUNCIL_INPROCESS_TASKS, "errors": []}
    if settings.COUNCIL_INPROCESS_TASKS:
        context["workers"] = [_in_process_runner()]
        context["depths"] = {}
    else:
        pinged, error = _celery_workers()
        beats = heartbeat.live_workers()
        by_host = {}
        for beat in beats:
            by_host.setdefault(beat["hostname"], []).append(beat)
        workers = []
        for hostname in sorted(set(pinged) | set(by_host)):
            for beat in by_host.get(hostname) or [{"hostname": hostname, "pid": None, "loaded": [], "rss_bytes": None, "at": None}]:
                workers.append({**beat, "queues": pinged.get(hostname) or beat.get("queues") or [],
                                "answers_ping": hostname in pinged})
        context["workers"] = workers
        served = {q for w in workers for q in w["queues"]}
        depths, depth_error = _queue_depths(model_queues | served)
        context["depths"] = {q: {"depth": d, "served": q in served} for q, d in depths.items()}
        context["errors"] = [e for e in (error, depth_error) if e]
    for worker in context["workers"]:
        rss = worker.get("rss_bytes")
        worker["rss_mb"] = round(rss / 2**20) if rss else None
        for engine in worker.get("loaded", []):
            engine["approx_mb"] = round((engine.get("approx_bytes") or 0) / 2**20)
    # Failure texts are other users' answers: staff see them only with the permission to view responses.
    context["may_see_failures"] = request.user.has_perm(FAILURES_PERMISSION)
    context["failures"] = _recent_failures() if context["may_see_failures"] else []
    return render(request, "health.html", context)
