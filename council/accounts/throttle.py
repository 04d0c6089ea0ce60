"""Failed log-ins, counted per account and per address; past a limit, log-in waits.

Counters live in the cache (Redis with workers, this process's memory in embedded mode)
and expire COUNCIL_LOGIN_LOCKOUT_SECONDS after an account's or address's first failure.
A successful log-in clears its account's counter; `reset()` (and
`manage.py reset_login_throttle`) clears one by hand. Failures are counted by the name
typed, whether or not such an account exists, so the answer never tells which names do.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"council:login-failures:{kind}:{digest}"


def client_address(request) -> str:
    """The address the request came from (REMOTE_ADDR; behind a proxy, daphne's --proxy-headers sets it)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _limits(username: str, address: str):
    yield _key("account", username), settings.COUNCIL_LOGIN_FAILURES_PER_ACCOUNT
    yield _key("address", address), settings.COUNCIL_LOGIN_FAILURES_PER_ADDRESS


def retry_after(username: str, address: str) -> int | None:
    """Seconds until `username` may try again from `address`, or None if it may now."""
    waits = []
    for key, limit in _limits(username or "", address):
        if (cache.get(key) or 0) >= limit:
            since = cache.get(key + ":since") or time.time()
            waits.append(max(1, int(since + settings.COUNCIL_LOGIN_LOCKOUT_SECONDS - time.time())))
    return max(waits) if waits else None


def failed(username: str, address: str) -> None:
    lockout = settings.COUNCIL_LOGIN_LOCKOUT_SECONDS
    for key, _ in _limits(username or "", address):
        if cache.add(key, 0, timeout=lockout):
            cache.set(key + ":since", time.time(), timeout=lockout)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=lockout)


def succeeded(username: str) -> None:
    reset(username=username or "")


def reset(username: str | None = None, address: str | None = None) -> None:
    """Clear the failures counted for an account name and/or an address."""
    keys = []
    if username is not None:
        keys.append(_key("account", username))
    if address is not None:
        keys.append(_key("address", address))
    cache.delete_many([k for key in keys for k in (key, key + ":since")])


def message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (f"Too many failed log-ins for this account or from this address. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or ask an administrator to reset the limit.")
