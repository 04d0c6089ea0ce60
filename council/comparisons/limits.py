"""Per-user limits on new work: a rate of comparisons, and a cap on unfinished responses."""

import time

from django.conf import settings
from django.core.cache import cache

from council.comparisons.errors import TooManyRequests
from council.comparisons.models import Response, Status

WINDOW_SECONDS = 60


def check(user, new_responses: int) -> None:
    """Raise TooManyRequests (with a Retry-After) when `user` may not start this much work now."""
    active = Response.objects.filter(
        comparison__owner=user, status__in=[Status.QUEUED, Status.RUNNING]
    ).count()
    cap = settings.COUNCIL_MAX_ACTIVE_RESPONSES
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
            f"At most {limit} comparisons a minute; try again in {retry_after} s.", retry_after=retry_after
        )
