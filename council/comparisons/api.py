"""The JSON API (DESIGN.md): session or bearer-token authentication, JSON errors only."""

import functools
import json
import logging

from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from council.catalog.models import LanguageModel
from council.comparisons import actions, submission
from council.comparisons.errors import SubmissionError
from council.comparisons.access import get_comparison_for_user, get_response_for_user
from council.comparisons.serializers import comparison_json, response_json

log = logging.getLogger(__name__)


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def api_endpoint(view):
    """401 for anonymous callers, and every failure as a JSON error rather than an HTML page."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return error("Authentication required: log in, or send Authorization: Bearer <token>.", 401)
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return error(str(exc) or "Not found.", 404)
        except SubmissionError as exc:
            response = error(str(exc), exc.status)
            if exc.retry_after:
                response["Retry-After"] = str(exc.retry_after)
            return response
        except actions.Conflict as exc:
            return error(str(exc), 409)

    return wrapper


def _json_body(request):
    try:
        return json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"The request body is not valid JSON: {exc}.") from None


@require_GET
@api_endpoint
def models(request):
    queryset = LanguageModel.objects.all() if request.user.is_staff else LanguageModel.objects.filter(enabled=True)
    return JsonResponse(
        [{"slug": m.slug, "name": m.name, "backend": m.backend, "queue": m.queue, "enabled": m.enabled} for m in queryset],
        safe=False,
    )


@require_POST
@api_endpoint
def create_comparison(request):
    parsed = submission.parse(_json_body(request), request.user)
    comparison = submission.create(request.user, parsed)
    return JsonResponse(comparison_json(comparison, full=False), status=201)


@require_POST
@api_endpoint
def follow_up(request, comparison_id):
    """A new turn on the latest turn of a thread: the same columns, each with its own conversation."""
    parent = get_comparison_for_user(request.user, comparison_id)
    parsed = submission.parse_follow_up(_json_body(request), request.user, parent)
    comparison = submission.create(request.user, parsed, parent=parent)
    return JsonResponse(comparison_json(comparison, full=False), status=201)


@require_GET
@api_endpoint
def comparison_detail(request, comparison_id):
    return JsonResponse(comparison_json(get_comparison_for_user(request.user, comparison_id)))


@require_POST
@api_endpoint
def cancel_comparison(request, comparison_id):
    comparison = get_comparison_for_user(request.user, comparison_id)
    actions.cancel_comparison(comparison)
    return JsonResponse(comparison_json(comparison))


@require_POST
@api_endpoint
def cancel_response(request, response_id):
    response = get_response_for_user(request.user, response_id)
    actions.cancel_response(response)
    response.refresh_from_db()
    return JsonResponse(response_json(response))


@require_POST
@api_endpoint
def regenerate_response(request, response_id):
    response = get_response_for_user(request.user, response_id)
    actions.regenerate(response)
    response.refresh_from_db()
    return JsonResponse(response_json(response), status=202)
