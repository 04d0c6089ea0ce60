"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json.

Written by hand, one route group per app (`council/<app>/openapi.py` with `PATHS` and
`SCHEMAS`), assembled here. tests/council/test_openapi.py holds it to the live app: every
/api/ URL pattern is documented and every documented route answers; the fuzz suite
(tests/council/test_api_fuzz.py) sends every operation generated and malformed requests
and checks each answer against it. A new /api/ route joins a group's `PATHS`, and its
group joins `GROUPS` below.
"""

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

VERSION = "1.0.0"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def body(schema: dict, description: str = "") -> dict:
    """A required JSON request body."""
    return {"required": True, "description": description, "content": json_content(schema)}


def answer(description: str, schema: dict) -> dict:
    return {"description": description, "content": json_content(schema)}


# Every error answer is {"error": "..."}; these are the statuses the API uses, by name.
ERRORS = {
    400: ("BadRequest", "The input cannot be used; the message names the field and says why."),
    401: ("Unauthorized", "No session and no valid `Authorization: Bearer <token>`."),
    403: ("Forbidden", "A session write without the CSRF token (scripts use a bearer token instead)."),
    404: ("NotFound", "No such object for this user (another user's objects do not exist for you)."),
    405: ("MethodNotAllowed", "The route does not take this method; `Allow` lists those it takes."),
    409: ("Conflict", "The object's state does not allow this now; the message says why."),
    413: ("TooLarge", "The request body is over `COUNCIL_MAX_BODY_BYTES`."),
    429: ("TooManyRequests", "Over a per-user limit; `Retry-After` says when to try again."),
    503: ("Unavailable", "The task queue cannot take work now; nothing was created. `Retry-After` says when to retry."),
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def errors(*statuses: int) -> dict:
    """The error answers of an operation; 401, 405 and the catch-all `default` go on every one."""
    codes = sorted({401, 405, *statuses})
    answers = {str(code): {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}
    answers["default"] = {"$ref": "#/components/responses/Error"}
    return answers


def _error_responses() -> dict:
    responses = {"Error": answer("Any other error (500 included), as JSON.", ref("Error"))}
    for code, (name, description) in ERRORS.items():
        responses[name] = answer(description, ref("Error"))
        if code in (429, 503):
            responses[name]["headers"] = RETRY_AFTER
        if code == 405:
            responses[name]["headers"] = {"Allow": {"description": "The methods the route takes.",
                                                    "schema": {"type": "string"}}}
    return responses


def _groups():
    from council.arena import openapi as arena
    from council.comparisons import openapi as comparisons

    return [comparisons, arena]


SELF = {
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "tags": ["meta"],
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": answer("The OpenAPI 3.1 document of the API.", {"type": "object"}),
                "405": {"$ref": "#/components/responses/MethodNotAllowed"},
            },
        }
    }
}


def document() -> dict:
    """The whole document, with the limits of this install's settings filled in."""
    schemas = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "What went wrong, for a person to read."},
                "latest_url": {"type": "string", "description": "409 on an earlier turn: the thread's latest turn."},
            },
        }
    }
    paths = dict(SELF)
    for group in _groups():
        schemas.update(group.schemas(settings))
        paths.update(group.PATHS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Council",
            "version": VERSION,
            "description": (
                "Compare locally served language models side by side, FAST against THINKING. "
                "Every answer is JSON, errors included: `{\"error\": \"...\"}`. Authenticate with "
                "`Authorization: Bearer <token>` (tokens at /accounts/tokens/) or a browser session "
                "(writes then need the `X-CSRFToken` header)."
            ),
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": _error_responses(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A per-user API token."},
                "session": {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME},
            },
        },
    }


@require_GET
def openapi_json(request):
    """GET /api/openapi.json, for anyone: it describes the API, it holds no data."""
    return JsonResponse(document())
