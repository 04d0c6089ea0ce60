"""Worker heartbeats in the Django cache: who serves which queues, with which models loaded.

A daemon thread started when a Celery worker is ready writes its state every
HEARTBEAT_SECONDS under its own key (expiring after a few missed beats) and keeps its
id in an index key, so the health page needs no remote control round trip to list
the models loaded in each worker and the memory it uses.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.core.cache import cache

from inference import loaded_engines

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
EXPIRE_SECONDS = 3 * HEARTBEAT_SECONDS
INDEX_KEY = "council:heartbeats"
KEY_PREFIX = "council:heartbeat:"

_started = threading.Event()


def rss_bytes() -> int | None:
    """Resident memory of this process, from /proc (Linux), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    except Exception:
        return None


def snapshot(hostname: str, queues: list[str]) -> dict:
    return {
        "hostname": hostname,
        "pid": os.getpid(),
        "queues": sorted(queues),
        "loaded": loaded_engines(),
        "rss_bytes": rss_bytes(),
        "at": time.time(),
    }


def beat(hostname: str, queues: list[str]) -> None:
    """Write one heartbeat and make sure the index lists it."""
    worker_id = f"{hostname}:{os.getpid()}"
    cache.set(KEY_PREFIX + worker_id, snapshot(hostname, queues), EXPIRE_SECONDS)
    index = cache.get(INDEX_KEY) or {}
    if worker_id not in index:
        index[worker_id] = time.time()
        cache.set(INDEX_KEY, index, 24 * 3600)


def live_workers() -> list[dict]:
    """The heartbeats that have not expired, by hostname; prunes expired ids from the index."""
    index = cache.get(INDEX_KEY) or {}
    if not index:
        return []
    found = cache.get_many([KEY_PREFIX + worker_id for worker_id in index])
    alive = {worker_id for worker_id in index if KEY_PREFIX + worker_id in found}
    if alive != set(index):
        cache.set(INDEX_KEY, {w: t for w, t in index.items() if w in alive}, 24 * 3600)
    return sorted(found.values(), key=lambda h: (h["hostname"], h["pid"]))


def _loop(hostname: str, queues: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            beat(hostname, queues)
        except Exception as exc:  # the cache being away must not take the worker down
            log.warning("heartbeat failed: %s", exc)
        stop.wait(HEARTBEAT_SECONDS)


def start(hostname: str, queues: list[str]) -> threading.Event | None:
    """Start the heartbeat thread once per process; returns the event that stops it."""
    if _started.is_set():
        return None
    _started.set()
    stop = threading.Event()
    threading.Thread(target=_loop, args=(hostname, queues, stop), name="council-heartbeat", daemon=True).start()
    return stop


def on_worker_ready(sender=None, **kwargs):
    """celery.signals.worker_ready: `sender` is the worker's consumer."""
    try:
        hostname = sender.hostname
        queues = list(sender.app.amqp.queues.consume_from or {})
    except AttributeError:
        hostname, queues = socket.gethostname(), []
    start(hostname, queues)
