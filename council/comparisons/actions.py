"""Stop and regenerate: state changes shared by the API and the page."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from council.comparisons import cancellation, dispatch, limits
from council.comparisons.events import publish_status
from council.comparisons.models import TERMINAL, Response, Status


class Conflict(Exception):
    """The response is in a state that does not allow this; the message says why."""


def cancel_response(response: Response) -> None:
    """A queued response ends at once; a running one is stopped by its worker within one flush."""
    now = timezone.now()
    if Response.objects.filter(id=response.id, status=Status.QUEUED).update(
        status=Status.CANCELLED, finished_at=now
    ):
        publish_status(response.comparison_id, response.id, Status.CANCELLED)
    elif Response.objects.filter(id=response.id, status=Status.RUNNING).exists():
        cancellation.request_cancel(response.id)


def cancel_comparison(comparison) -> None:
    for response in comparison.responses.filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING)):
        cancel_response(response)


def regenerate(response: Response) -> None:
    """Run a finished response again, in the same column. Its seq keeps counting up.

    Only in the latest turn of a thread: later turns were asked with this answer in context.
    """
    if response.comparison.follow_ups.exists():
        raise Conflict("Only the latest turn of a conversation can be regenerated; later turns were asked with this answer.")
    if not Response.objects.filter(id=response.id, status__in=TERMINAL).exists():
        raise Conflict("This response is still queued or running; stop it first.")
    dispatch.check_available()
    with transaction.atomic():
        limits.check(response.comparison.owner, new_responses=1)
        reset = Response.objects.filter(id=response.id, status__in=TERMINAL).update(
            status=Status.QUEUED,
            text="",
            reasoning="",
            error="",
            metrics={},
            finish_reason=None,
            quality=None,
            queued_at=timezone.now(),
            started_at=None,
            first_token_at=None,
            finished_at=None,
        )
        if not reset:
            raise Conflict("This response is still queued or running; stop it first.")
    cancellation.forget(response.id)
    publish_status(response.comparison_id, response.id, Status.QUEUED)
    dispatch.enqueue([response])
