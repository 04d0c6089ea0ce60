"""Fails running responses whose worker died: their heartbeat stopped.

Every worker process and every web process runs `start()`: a daemon thread that sweeps
every SWEEP_SECONDS. Sweepers may overlap; the conditional update lets one win per row.
A response is stale after COUNCIL_STALE_SECONDS (default 30) without a heartbeat, so
a killed worker's column ends `failed` within STALE + SWEEP seconds (45 s by default).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from council.comparisons.events import publish_status
from council.comparisons.models import Response, Status

log = logging.getLogger(__name__)

SWEEP_SECONDS = 10
LOST_MESSAGE = "The worker generating this answer stopped (it crashed or was killed). Regenerate to try again."

_started = threading.Lock()
_thread: threading.Thread | None = None


def sweep() -> list[str]:
    """Fail every running response with a stale heartbeat; the ids failed."""
    cutoff = timezone.now() - timedelta(seconds=settings.COUNCIL_STALE_SECONDS)
    failed = []
    stale = Response.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff)
    for response_id, comparison_id in stale.values_list("id", "comparison_id"):
        if stale.filter(id=response_id).update(
            status=Status.FAILED, error=LOST_MESSAGE, finished_at=timezone.now()
        ):
            log.warning("response %s lost its worker; marked failed", response_id)
            publish_status(comparison_id, response_id, Status.FAILED, error=LOST_MESSAGE)
            failed.append(str(response_id))
    return failed


def _loop(stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        try:
            sweep()
        except Exception:  # a database hiccup must not end the thread
            log.exception("sweep failed")
        finally:
            close_old_connections()


def start() -> None:
    """Start this process's sweeper thread, once."""
    global _thread
    with _started:
        if _thread is None:
            _thread = threading.Thread(target=_loop, args=(threading.Event(),), name="council-sweeper", daemon=True)
            _thread.start()
            log.info("sweeper started: answers without a heartbeat for %s s are failed", settings.COUNCIL_STALE_SECONDS)


class Heartbeat:
    """While a response runs, touch its heartbeat every few seconds (model loads included)."""

    def __init__(self, response_id, interval: float | None = None):
        self.response_id = response_id
        self.interval = interval or max(1.0, settings.COUNCIL_STALE_SECONDS / 6)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{response_id}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                Response.objects.filter(id=self.response_id, status=Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        except Exception:
            log.exception("heartbeat of response %s failed", self.response_id)
        finally:
            close_old_connections()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
