"""The comparisons routes of the OpenAPI document (council/openapi.py assembles the groups)."""

from council.openapi import answer, body, errors, ref

UUID = {"type": "string", "format": "uuid"}
NULLABLE_UUID = {"type": ["string", "null"], "format": "uuid"}
MODES = ["fast", "thinking"]
STATUSES = ["queued", "running", "done", "failed", "cancelled"]


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


def schemas(settings) -> dict:
    """This group's schemas; the limits are this install's settings."""
    prompt_chars = settings.COUNCIL_MAX_PROMPT_CHARS
    return {
        "Model": {
            "type": "object",
            "required": ["slug", "name", "backend", "queue", "enabled"],
            "properties": {
                "slug": {"type": "string"}, "name": {"type": "string"}, "backend": {"type": "string"},
                "queue": {"type": "string"}, "enabled": {"type": "boolean"},
            },
        },
        "Metrics": {
            "type": "object",
            "description": "Figures of one generation (DESIGN.md); null where unknown. Times in ms, speeds in tokens/s.",
            "required": ["prompt_tokens", "completion_tokens", "ttft_ms", "decode_tokens_per_s", "total_ms",
                         "draft_tokens", "accepted_tokens", "engine", "quantization", "speculation"],
            "properties": {
                **{name: _nullable("integer") for name in (
                    "prompt_tokens", "completion_tokens", "draft_tokens", "accepted_tokens", "threads",
                    "concurrent_streams", "batch_size")},
                **{name: _nullable("number") for name in ("ttft_ms", "decode_tokens_per_s", "total_ms", "load_ms")},
                **{name: _nullable("string") for name in ("engine", "quantization", "speculation")},
            },
        },
        "Quality": {
            "type": ["object", "null"],
            "description": "FAST only: the answer scored against the same model's THINKING weights; null until measured.",
            "properties": {
                "reference": {"type": "string"}, "top1_agreement": _nullable("number"),
                "mean_kl": _nullable("number"), "mean_logprob": _nullable("number"),
                "first_divergence": _nullable("integer"), "tokens": _nullable("integer"),
            },
        },
        "ResponseSummary": {
            "type": "object",
            "description": "One column: one model in one mode.",
            "required": ["id", "model", "mode", "status"],
            "properties": {
                "id": UUID, "model": {"type": "string"}, "mode": {"enum": MODES}, "status": {"enum": STATUSES},
                "role": {"enum": ["answer", "review", "synthesis"]},
            },
        },
        "Response": {
            "type": "object",
            "required": ["id", "model", "mode", "status", "text", "reasoning", "error", "metrics", "previous",
                         "truncated_turns"],
            "properties": {
                "id": UUID, "model": {"type": "string"}, "mode": {"enum": MODES}, "status": {"enum": STATUSES},
                "text": {"type": "string"}, "reasoning": {"type": "string"}, "error": _nullable("string"),
                "metrics": ref("Metrics"),
                "previous": {**NULLABLE_UUID, "description": "The same column's answer in the turn before."},
                "truncated_turns": {"type": "integer", "minimum": 0,
                                    "description": "Earlier turns left out of the prompt to fit the context."},
                "finish_reason": {"enum": ["stop", "length", "cancelled", "error", None]},
                "quality": ref("Quality"),
                "role": {"enum": ["answer", "review", "synthesis"]},
                "versions": {"type": "array", "items": {"type": "object"},
                             "description": "The column's earlier answers, replaced by regenerate; oldest first."},
            },
        },
        "Comparison": {
            "type": "object",
            "required": ["id", "url", "prompt", "mode", "created_at", "parent", "follow_ups", "responses"],
            "properties": {
                "id": UUID, "url": {"type": "string"}, "prompt": {"type": "string"},
                "mode": {"enum": [*MODES, "both"]}, "created_at": {"type": "string", "format": "date-time"},
                "parent": {**NULLABLE_UUID, "description": "The turn this one follows up on."},
                "follow_ups": {"type": "array", "items": UUID},
                "responses": {"type": "array", "items": ref("Response")},
                "synthesis": {"type": ["object", "null"]},
            },
        },
        "ComparisonCreated": {
            "type": "object",
            "required": ["id", "url", "responses"],
            "properties": {
                "id": UUID, "url": {"type": "string", "description": "The comparison's page."},
                "responses": {"type": "array", "items": ref("ResponseSummary")},
            },
        },
        "ThreadList": {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["id", "prompt", "mode", "created_at", "url"],
                    "properties": {
                        "id": UUID, "prompt": {"type": "string"}, "mode": {"enum": [*MODES, "both"]},
                        "created_at": {"type": "string", "format": "date-time"}, "url": {"type": "string"},
                    },
                }},
                "next": {"type": ["string", "null"], "description": "The next page's URL; null on the last page."},
            },
        },
        "NewComparison": {
            "type": "object",
            "required": ["prompt", "models"],
            "properties": {
                "prompt": {"type": "string", "minLength": 1, "maxLength": prompt_chars,
                           "description": "Not blank; no NUL characters or lone surrogates (as in every string)."},
                "models": {"type": "array", "minItems": 1, "maxItems": settings.COUNCIL_MAX_MODELS,
                           "items": {"type": "string"}, "description": "Slugs from GET /api/models."},
                "mode": {"enum": [*MODES, "both"], "default": "fast",
                         "description": "`both` puts each model in FAST next to THINKING."},
                "system_prompt": {"type": ["string", "null"], "maxLength": prompt_chars},
                "max_tokens": {"type": ["integer", "null"], "minimum": 1,
                               "description": "At most the smallest limit of the chosen models."},
                "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            },
            "example": {"prompt": "Why is the sky blue?", "models": ["smollm2-135m-instruct"], "mode": "both"},
        },
        "FollowUp": {
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string", "minLength": 1, "maxLength": prompt_chars}},
            "example": {"prompt": "Say it in one sentence."},
        },
    }


COMPARISON_ID = {"name": "comparison_id", "in": "path", "required": True, "schema": UUID}
RESPONSE_ID = {"name": "response_id", "in": "path", "required": True, "schema": UUID}

PATHS = {
    "/api/models": {
        "get": {
            "operationId": "listModels",
            "tags": ["comparisons"],
            "summary": "The models a comparison may ask (staff also see disabled ones).",
            "responses": {"200": answer("The models.", {"type": "array", "items": ref("Model")}), **errors()},
        }
    },
    "/api/comparisons": {
        "get": {
            "operationId": "listComparisons",
            "tags": ["comparisons"],
            "summary": "The user's threads, newest first, one entry per first turn.",
            "parameters": [
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 500},
                 "description": "Keep threads where some turn's prompt or answer contains this (any case)."},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
            ],
            "responses": {"200": answer("One page of threads (25 a page).", ref("ThreadList")), **errors(400)},
        },
        "post": {
            "operationId": "createComparison",
            "tags": ["comparisons"],
            "summary": "Ask several models (in one or both modes) the same prompt.",
            "requestBody": body(ref("NewComparison")),
            "responses": {
                "201": answer("Created; every column queued. Follow it at the events route.", ref("ComparisonCreated")),
                **errors(400, 403, 413, 429, 503),
            },
        },
    },
    "/api/comparisons/{comparison_id}": {
        "parameters": [COMPARISON_ID],
        "get": {
            "operationId": "getComparison",
            "tags": ["comparisons"],
            "summary": "One turn with every column's text so far.",
            "responses": {"200": answer("The comparison.", ref("Comparison")), **errors(404)},
        },
    },
    "/api/comparisons/{comparison_id}/events": {
        "parameters": [COMPARISON_ID],
        "get": {
            "operationId": "comparisonEvents",
            "tags": ["comparisons"],
            "summary": "Server-Sent Events: `snapshot`, then `response.delta` / `response.status`, then `end`.",
            "responses": {
                "200": {"description": "The event stream; it ends once every column has ended.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                **errors(404),
            },
        },
    },
    "/api/comparisons/{comparison_id}/follow-up": {
        "parameters": [COMPARISON_ID],
        "post": {
            "operationId": "followUp",
            "tags": ["comparisons"],
            "summary": "A new turn on the latest turn of a thread; each column continues its own conversation.",
            "requestBody": body(ref("FollowUp")),
            "responses": {
                "201": answer("The new turn, queued.", ref("ComparisonCreated")),
                **errors(400, 403, 404, 409, 413, 429, 503),
            },
        },
    },
    "/api/comparisons/{comparison_id}/cancel": {
        "parameters": [COMPARISON_ID],
        "post": {
            "operationId": "cancelComparison",
            "tags": ["comparisons"],
            "summary": "Stop every column still queued or generating.",
            "responses": {"200": answer("The comparison.", ref("Comparison")), **errors(403, 404)},
        },
    },
    "/api/responses/{response_id}/cancel": {
        "parameters": [RESPONSE_ID],
        "post": {
            "operationId": "cancelResponse",
            "tags": ["comparisons"],
            "summary": "Stop one column.",
            "responses": {"200": answer("The column.", ref("Response")), **errors(403, 404)},
        },
    },
    "/api/responses/{response_id}/regenerate": {
        "parameters": [RESPONSE_ID],
        "post": {
            "operationId": "regenerateResponse",
            "tags": ["comparisons"],
            "summary": "Run an ended column again, in the latest turn of its thread.",
            "responses": {
                "202": answer("Queued again.", ref("Response")),
                **errors(403, 404, 409, 429, 503),
            },
        },
    },
}
