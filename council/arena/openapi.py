"""The arena routes of the OpenAPI document (council/openapi.py assembles the groups)."""

from council.openapi import answer, body, errors, ref

UUID = {"type": "string", "format": "uuid"}
LABEL = {"enum": ["A", "B"]}
MODES = ["fast", "thinking"]
STATUSES = ["queued", "running", "done", "failed", "cancelled"]
WINNERS = ["A", "B", "tie", "both_bad"]


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


def schemas(settings) -> dict:
    prompt = {"type": "string", "minLength": 1, "maxLength": settings.COUNCIL_MAX_PROMPT_CHARS,
              "description": "Not blank; no NUL characters or lone surrogates."}
    return {
        "NewBattle": {
            "type": "object",
            "required": ["prompt"],
            "properties": {
                "prompt": prompt,
                "mode": {"enum": ["fast", "thinking", "any"], "default": "any",
                         "description": "Draw both entrants in this mode; `any` may pit a model's FAST against its THINKING."},
            },
            "example": {"prompt": "Explain a rainbow to a child.", "mode": "any"},
        },
        "BattleFollowUp": {
            "type": "object", "required": ["prompt"], "properties": {"prompt": prompt},
            "example": {"prompt": "Now in one sentence."},
        },
        "BattleVote": {
            "type": "object",
            "required": ["winner"],
            "properties": {"winner": {"enum": WINNERS, "description": "`both_bad` counts as a tie."}},
            "example": {"winner": "A"},
        },
        "BattleCreated": {
            "type": "object",
            "description": "Labels only: the names stay hidden until the vote.",
            "required": ["id", "url", "turn", "responses"],
            "properties": {
                "id": UUID, "url": {"type": "string"}, "turn": {**UUID, "description": "The new turn."},
                "responses": {"type": "array", "items": {
                    "type": "object", "required": ["id", "label", "status"],
                    "properties": {"id": UUID, "label": LABEL, "status": {"enum": STATUSES}},
                }},
            },
        },
        "BattleAnswer": {
            "type": "object",
            "description": "One answer; `model`, `mode` and `metrics` only once the battle has its vote.",
            "required": ["id", "label", "status", "text", "reasoning", "finish_reason", "error", "truncated_turns"],
            "properties": {
                "id": UUID, "label": LABEL, "status": {"enum": STATUSES}, "text": {"type": "string"},
                "reasoning": {"type": "string"}, "finish_reason": {"enum": ["stop", "length", "cancelled", "error", None]},
                "error": {**_nullable("string"), "description": "Before the vote only \"This answer failed.\"."},
                "truncated_turns": {"type": "integer", "minimum": 0},
                "model": {"type": "string"}, "mode": {"enum": MODES}, "metrics": {"type": "object"},
            },
        },
        "Entrant": {
            "type": "object",
            "required": ["label", "model", "name", "mode"],
            "properties": {"label": LABEL, "model": {"type": "string"}, "name": {"type": "string"},
                           "mode": {"enum": MODES}},
        },
        "Vote": {
            "type": "object",
            "required": ["winner", "counted", "identity_words", "created_at"],
            "properties": {
                "winner": {"enum": WINNERS},
                "counted": {"type": "boolean",
                            "description": "False when an answer named a model (identity words) or staff discarded it."},
                "identity_words": {"type": "array", "items": {"type": "string"}},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "Battle": {
            "type": "object",
            "required": ["id", "url", "mode", "created_at", "vote", "responses", "turns"],
            "properties": {
                "id": UUID, "url": {"type": "string"}, "mode": {"enum": ["fast", "thinking", "any"]},
                "created_at": {"type": "string", "format": "date-time"},
                "vote": {"oneOf": [ref("Vote"), {"type": "null"}]},
                "responses": {"oneOf": [{"type": "array", "items": ref("Entrant")}, {"type": "null"}],
                              "description": "The entrants, once the battle has its vote; null before."},
                "turns": {"type": "array", "items": {
                    "type": "object", "required": ["id", "prompt", "responses"],
                    "properties": {"id": UUID, "prompt": {"type": "string"},
                                   "responses": {"type": "array", "items": ref("BattleAnswer")}},
                }},
            },
        },
        "VoteCast": {
            "type": "object",
            "required": ["id", "vote", "responses"],
            "properties": {"id": UUID, "vote": ref("Vote"), "responses": {"type": "array", "items": ref("Entrant")}},
        },
        "Leaderboard": {
            "type": "object",
            "required": ["entries", "votes", "method"],
            "properties": {
                "entries": {"type": "array", "items": {
                    "type": "object",
                    "required": ["model", "name", "mode", "rating", "ci_low", "ci_high", "battles", "rank"],
                    "properties": {
                        "model": {"type": "string"}, "name": {"type": "string"}, "mode": {"enum": MODES},
                        "rating": {"type": "number", "description": "Elo scale: 400 per factor of 10 in the odds, mean 1000."},
                        "ci_low": {"type": "number"}, "ci_high": {"type": "number"},
                        "battles": {"type": "integer", "minimum": 1},
                        "rank": {**_nullable("integer"), "description": "Null below 5 counted battles."},
                    },
                }},
                "votes": {"type": "integer", "minimum": 0, "description": "Counted votes behind the rows shown."},
                "method": {"type": "string"},
            },
        },
        "Preference": {
            "type": "object",
            "required": ["comparison", "preferred", "model", "mode"],
            "properties": {"comparison": UUID, "preferred": UUID, "model": {"type": "string"}, "mode": {"enum": MODES}},
        },
    }


BATTLE_ID = {"name": "battle_id", "in": "path", "required": True, "schema": UUID}
RESPONSE_ID = {"name": "response_id", "in": "path", "required": True, "schema": UUID}

PATHS = {
    "/api/battles": {
        "post": {
            "operationId": "createBattle",
            "tags": ["arena"],
            "summary": "Two entrants drawn at random answer blind, labelled A and B.",
            "requestBody": body(ref("NewBattle")),
            "responses": {"201": answer("Created; both answers queued.", ref("BattleCreated")),
                          **errors(400, 403, 413, 429, 503)},
        }
    },
    "/api/battles/{battle_id}": {
        "parameters": [BATTLE_ID],
        "get": {
            "operationId": "getBattle",
            "tags": ["arena"],
            "summary": "Every turn's answers, blind until the vote.",
            "responses": {"200": answer("The battle.", ref("Battle")), **errors(404)},
        },
    },
    "/api/battles/{battle_id}/events": {
        "parameters": [BATTLE_ID],
        "get": {
            "operationId": "battleEvents",
            "tags": ["arena"],
            "summary": "The latest turn as Server-Sent Events: `snapshot`, `response.delta` {response_id, seq, "
                       "text, kind}, `response.status` {response_id, status}, `end`; never a name or a figure.",
            "responses": {
                "200": {"description": "The event stream; it ends once both answers have ended.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                **errors(404),
            },
        },
    },
    "/api/battles/{battle_id}/vote": {
        "parameters": [BATTLE_ID],
        "post": {
            "operationId": "voteBattle",
            "tags": ["arena"],
            "summary": "The battle's one vote, once the latest turn's answers have ended; names the entrants.",
            "requestBody": body(ref("BattleVote")),
            "responses": {"200": answer("The vote, and who A and B were.", ref("VoteCast")),
                          **errors(400, 403, 404, 409, 413)},
        },
    },
    "/api/battles/{battle_id}/follow-up": {
        "parameters": [BATTLE_ID],
        "post": {
            "operationId": "followUpBattle",
            "tags": ["arena"],
            "summary": "A new blind turn; each answer continues its own conversation.",
            "requestBody": body(ref("BattleFollowUp")),
            "responses": {"201": answer("The new turn, queued.", ref("BattleCreated")),
                          **errors(400, 403, 404, 409, 413, 429, 503)},
        },
    },
    "/api/battles/{battle_id}/cancel": {
        "parameters": [BATTLE_ID],
        "post": {
            "operationId": "cancelBattle",
            "tags": ["arena"],
            "summary": "Stop the latest turn's answers, or only one of them.",
            "parameters": [{"name": "label", "in": "query", "schema": LABEL}],
            "responses": {"200": answer("The battle.", ref("Battle")), **errors(400, 403, 404)},
        },
    },
    "/api/leaderboard": {
        "get": {
            "operationId": "leaderboard",
            "tags": ["arena"],
            "summary": "Bradley–Terry ratings of the (model, mode) entrants with 95 % bootstrap intervals.",
            "parameters": [{"name": "mode", "in": "query", "schema": {"enum": MODES},
                            "description": "Only this mode's rows (one fit for all; ranks among the rows shown)."}],
            "responses": {"200": answer("Best first; no entries before the first counted vote.", ref("Leaderboard")),
                          **errors(400)},
        }
    },
    "/api/responses/{response_id}/prefer": {
        "parameters": [RESPONSE_ID],
        "post": {
            "operationId": "preferResponse",
            "tags": ["arena"],
            "summary": "Mark the preferred column of a turn (an open vote: never on the blind leaderboard).",
            "responses": {"200": answer("The turn's preference.", ref("Preference")), **errors(400, 403, 404, 409)},
        },
    },
}
