"""The JSON API (DESIGN.md): session or bearer-token authentication, JSON errors only."""

import functools
import logging
from urllib.parse import urlencode

from django.http import Http404, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from council.comparisons import actions, submission
from council.comparisons.errors import SubmissionError, with_retry_after
from council.comparisons.access import get_comparison_for_user, get_response_for_user, models_for
from council.comparisons.search import threads_matching
from council.comparisons.serializers import comparison_json, comparison_url, response_json
from council.lib import jsonbody

PAGE_SIZE = 25
MAX_QUERY_CHARS = 500

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
            return with_retry_after(error(str(exc), exc.status), exc)
        except actions.Conflict as exc:
            return error(str(exc), 409)

    return wrapper


def _json_body(request):
    """The parsed JSON body; SubmissionError (400) naming the field a database or engine cannot hold."""
    try:
        return jsonbody.loads(request.body)
    except jsonbody.BodyError as exc:
        raise SubmissionError(str(exc)) from None


def _page_number(request) -> int:
    raw = request.GET.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 10**6:
        raise SubmissionError("page must be a whole number from 1.")
    return int(raw)


def _query(request) -> str:
    query = request.GET.get("q", "").strip()
    if len(query) > MAX_QUERY_CHARS:
        raise SubmissionError(f"q is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}.")
    return query


json_body = _json_body  # the name other apps' API views import


@require_GET
@api_endpoint
def models(request):
    queryset = models_for(request.user)
    return JsonResponse(
        [{"slug": m.slug, "name": m.name, "backend": m.backend, "queue": m.queue, "enabled": m.enabled} for m in queryset],
        safe=False,
    )


@require_http_methods(["GET", "POST"])
def comparisons(request):
    """`/api/comparisons`: GET lists the user's threads, POST starts one."""
    return list_comparisons(request) if request.method == "GET" else create_comparison(request)


@require_GET
@api_endpoint
def list_comparisons(request):
    """The user's threads, newest first, one entry per first turn; `q` searches every turn's prompt and answers."""
    query, number = _query(request), _page_number(request)
    threads = threads_matching(request.user, query).only("id", "prompt", "mode", "created_at")
    page = list(threads[(number - 1) * PAGE_SIZE:number * PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    params = {"q": query, "page": number + 1} if query else {"page": number + 1}
    return JsonResponse({
        "results": [
            {"id": str(c.id), "prompt": c.prompt, "mode": c.mode, "created_at": c.created_at.isoformat(),
             "url": comparison_url(c)}
            for c in page[:PAGE_SIZE]
        ],
        "next": f"{reverse('api-comparisons')}?{urlencode(params)}" if more else None,
    })


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
