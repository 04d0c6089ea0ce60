"""Who may see which comparison: the ownership rule, in one place."""

from django.http import Http404

from council.catalog.models import LanguageModel
from council.comparisons.models import Comparison, Response


def models_for(user):
    """The models `user` may choose: the enabled ones, every one for staff."""
    return LanguageModel.objects.all() if user.is_staff else LanguageModel.objects.filter(enabled=True)


def comparisons_for(user):
    if not user.is_authenticated:
        return Comparison.objects.none()
    # Blind turns (arena battles) are reached only through council.arena, which hides the names.
    return Comparison.objects.filter(owner=user, blind=False)


def threads_for(user):
    """The first turn of each of the user's threads: a thread appears once in lists."""
    return comparisons_for(user).filter(parent=None)


def get_comparison_for_user(user, comparison_id) -> Comparison:
    try:
        return comparisons_for(user).get(id=comparison_id)
    except (Comparison.DoesNotExist, ValueError):
        raise Http404("No such comparison.")


def get_response_for_user(user, response_id) -> Response:
    try:
        return Response.objects.select_related("comparison", "model").get(
            id=response_id, comparison__in=comparisons_for(user)
        )
    except (Response.DoesNotExist, ValueError):
        raise Http404("No such response.")


def get_shared_comparison(token) -> Comparison:
    """A comparison its owner shares read-only; 404 once the link is revoked."""
    if not token:
        raise Http404("No such shared comparison.")
    try:
        return Comparison.objects.get(share_token=token, blind=False)
    except Comparison.DoesNotExist:
        raise Http404("No such shared comparison.")
