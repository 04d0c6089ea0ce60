"""Stop requests for running responses, seen by the worker within one flush (~50 ms)."""

from django.core.cache import cache

_TTL = 3600


def _key(response_id) -> str:
    return f"council:cancel:{response_id}"


def request_cancel(response_id) -> None:
    cache.set(_key(response_id), 1, timeout=_TTL)


def is_cancel_requested(response_id) -> bool:
    return bool(cache.get(_key(response_id)))


def forget(response_id) -> None:
    cache.delete(_key(response_id))
