"""Per-user limits on new work: the one check every way of starting an answer goes through.

    with transaction.atomic():
        limits.check(user, new_responses=n)            # or background=True
        ... create or requeue the n responses ...
        transaction.on_commit(lambda: dispatch.enqueue(responses))

- `check(user, new_responses)` raises `TooManyRequests` (a 429 with Retry-After through
  the API's error handling) when the user's unfinished answers (queued or running, every
  kind: comparisons, follow-ups, regenerations, battles, syntheses, prompt sets) plus
  `new_responses` would pass COUNCIL_MAX_ACTIVE_RESPONSES, or when this is more than
  COUNCIL_RATE_LIMIT_PER_MINUTE starts in the current minute. Each call is one start.
- `check(user, new_responses, background=True)` is for work that waits behind every
  interactive answer (prompt sets): a start still counts against the rate, but the cap is
  COUNCIL_MAX_BACKGROUND_RESPONSES, so a prompt set can queue more than a page would.
- It must run inside the transaction that creates or requeues the rows: it locks the
  user's row, so two starts at the same moment count each other's answers instead of both
  passing a cap they pass together.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction

from council.comparisons.errors import TooManyRequests
from council.comparisons.models import Response, Status

WINDOW_SECONDS = 60


def unfinished(user):
    """The user's queued and running responses, of every kind."""
    return Response.objects.filter(comparison__owner=user, status__in=[Status.QUEUED, Status.RUNNING])


def check(user, new_responses: int, *, background: bool = False) -> None:
    """Raise TooManyRequests (with a Retry-After) when `user` may not start `new_responses` answers now."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("limits.check() must run inside the transaction that creates the responses.")
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    active = unfinished(user).count()
    cap = settings.COUNCIL_MAX_BACKGROUND_RESPONSES if background else settings.COUNCIL_MAX_ACTIVE_RESPONSES
    if active + new_responses > cap:
        raise TooManyRequests(
            f"You have {active} answers queued or generating and this adds {new_responses}; "
            f"the limit is {cap}. Wait for some to finish, or stop them.",
            retry_after=5,
        )
    window = int(time.time() // WINDOW_SECONDS)
    key = f"council:rate:{user.pk}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    count = cache.incr(key)
    limit = settings.COUNCIL_RATE_LIMIT_PER_MINUTE
    if count > limit:
        retry_after = int(WINDOW_SECONDS - time.time() % WINDOW_SECONDS) + 1
        raise TooManyRequests(
            f"At most {limit} starts a minute (a comparison, a follow-up or a regenerated answer each count one); "
            f"try again in {retry_after} s.",
            retry_after=retry_after,
        )
