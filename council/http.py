"""What every request meets first: input no layer below can hold is refused, and /api/ answers JSON.

- `RequestGuardMiddleware` refuses bodies over `COUNCIL_MAX_BODY_BYTES` (413) and NUL
  characters in the path, the query string, form fields and cookies (400): Postgres text
  cannot hold NUL, and a lookup with one fails in the driver, after the view has begun.
  JSON bodies are checked where they are parsed (`council.lib.jsonbody`), field by field.
- `ApiJsonErrorsMiddleware` turns any error answer under /api/ that is not JSON already
  (Django's 404 and 500 pages, `require_POST`'s empty 405, the CSRF page) into
  `{"error": "..."}` with the same status: a client never has to parse HTML.
"""

from http import HTTPStatus

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views import csrf

API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def json_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def refuse(request, message: str, status: int) -> HttpResponse:
    """JSON under /api/, plain text for pages (a crafted request, not a person at a form)."""
    if is_api(request):
        return json_error(message, status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _nul_problem(request) -> str | None:
    """Where the request carries a NUL character, or None."""
    if "\x00" in request.path:
        return "The URL must not contain NUL characters."
    sources = [("query parameter", request.GET)]
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(("form field", request.POST))
    for kind, data in sources:
        for name, values in data.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return f"The {kind} {name.replace(chr(0), '')!r} must not contain NUL characters."
    for name, value in request.COOKIES.items():
        if "\x00" in name or "\x00" in value:
            return "A cookie must not contain NUL characters."
    return None


class RequestGuardMiddleware:
    """413 for bodies over the limit, 400 for NUL characters anywhere a view would read them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.COUNCIL_MAX_BODY_BYTES
        size = _content_length(request)
        if size > limit:
            return refuse(request, f"The request body is {size} bytes; the limit is {limit}.", 413)
        problem = _nul_problem(request)
        if problem:
            return refuse(request, problem, 400)
        return self.get_response(request)


def _message_for(request, response) -> str:
    status = response.status_code
    if status == 404:
        return f"No such resource: {request.path}."
    if status == 405:
        allowed = response.headers.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}; it takes {allowed or 'no method'}."
    if status == 401:
        return "Authentication required: log in, or send Authorization: Bearer <token>."
    if status == 413:
        return f"The request body is too large; the limit is {settings.COUNCIL_MAX_BODY_BYTES} bytes."
    if status >= 500:
        return "Internal error: it is logged on the server. Try again, or report it if it persists."
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return f"Error {status}."


class ApiJsonErrorsMiddleware:
    """Every error under /api/ as `{"error": "..."}`, whatever raised it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            is_api(request)
            and response.status_code >= 400
            and not response.streaming
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            replacement = json_error(_message_for(request, response), response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: the reason as JSON under /api/, Django's page elsewhere."""
    if is_api(request):
        return json_error(
            f"CSRF check failed ({reason}). A logged-in session must send the X-CSRFToken header; "
            "a script can send Authorization: Bearer <token> instead.",
            403,
        )
    return csrf.csrf_failure(request, reason)
