"""Warm start: the bundled models, and those marked *preload*, load when the site or a worker starts.

On a background thread, FAST first (seconds) and then THINKING (a bundled model is
de-quantized and converted once, about a minute on 2 cores), so the first comparison does
not pay a load while other columns decode. COUNCIL_PRELOAD=false turns it off (the tests
do). A worker preloads only the models routed to the queues it serves; the embedded site
preloads every one, since it decodes them itself.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q

log = logging.getLogger(__name__)

_started = threading.Event()


def pairs(queues: list[str] | None = None) -> list:
    """(spec, mode) to load, FAST of every model before any THINKING."""
    from inference import BUNDLED, Mode

    from council.catalog.models import LanguageModel

    models = LanguageModel.objects.filter(enabled=True).filter(Q(preload=True) | Q(source__in=list(BUNDLED)))
    if queues is not None:
        models = models.filter(queue__in=queues)
    specs = [model.to_spec() for model in models]
    return [(spec, mode) for mode in (Mode.FAST, Mode.THINKING) for spec in specs]


def _run(queues) -> None:
    from inference import preload_engines

    try:
        wanted = pairs(queues)
    except DatabaseError as exc:  # not migrated yet, or the database is away: start cold
        log.warning("no preload: cannot read the models (%s)", exc)
        return
    finally:
        connection.close()
    if wanted:
        log.info("preloading %d engines in the background", len(wanted))
    preload_engines(wanted)


def start(queues: list[str] | None = None) -> threading.Thread | None:
    """Start the preload thread once per process, unless COUNCIL_PRELOAD is off."""
    if not settings.COUNCIL_PRELOAD or _started.is_set():
        return None
    _started.set()
    thread = threading.Thread(target=_run, args=(queues,), name="council-preload", daemon=True)
    thread.start()
    return thread


def on_worker_ready(sender=None, **kwargs):
    """celery.signals.worker_ready: preload the models of the queues this worker serves."""
    try:
        queues = list(sender.app.amqp.queues.consume_from or {})
    except AttributeError:
        queues = None
    start(queues)
