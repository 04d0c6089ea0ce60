"""Stop requests for running responses, seen by the worker within one flush (~50 ms).

They live in the cache (Redis, or memory in embedded mode). A worker that cannot reach
the cache carries on generating: losing a Stop for a moment beats failing the answer.
"""

import logging

from django.core.cache import cache

log = logging.getLogger(__name__)

_TTL = 3600


def _key(response_id) -> str:
    return f"council:cancel:{response_id}"


def request_cancel(response_id) -> None:
    cache.set(_key(response_id), 1, timeout=_TTL)


def is_cancel_requested(response_id) -> bool:
    try:
        return bool(cache.get(_key(response_id)))
    except Exception as exc:
        log.warning("cannot read stop requests (%s); carrying on", exc.__class__.__name__)
        return False


def forget(response_id) -> None:
    try:
        cache.delete(_key(response_id))
    except Exception as exc:
        log.warning("cannot clear the stop request of %s (%s)", response_id, exc.__class__.__name__)
