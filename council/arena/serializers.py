"""A battle's JSON: labels only until its vote, then the entrants by name.

Every shape that leaves the arena (API answers, the SSE stream) is built here, so the
rule "no name before the vote" lives in one place.
"""

from django.urls import reverse

from council.arena.models import LABELS, Battle, Vote
from council.comparisons.models import Response, Status
from council.comparisons.serializers import metrics_json

BLIND_ERROR = "This answer failed."  # an engine's message may name the model or its files


def label_of(response: Response) -> str:
    return LABELS[response.position]


def battle_url(battle: Battle) -> str:
    return reverse("arena-battle", args=[battle.id])


def response_json(response: Response, revealed: bool, full: bool = True, seq: bool = False) -> dict:
    data = {"id": str(response.id), "label": label_of(response), "status": response.status}
    if full:
        data.update(
            text=response.text,
            reasoning=response.reasoning,
            finish_reason=response.finish_reason,
            error=(response.error if revealed else BLIND_ERROR) if response.status == Status.FAILED else None,
            truncated_turns=response.truncated_turns,
        )
        if revealed:
            data.update(model=response.model.slug, mode=response.mode, metrics=metrics_json(response))
    if seq:
        data["seq"] = response.seq
    return data


def entrants_json(battle: Battle) -> list[dict]:
    return [{"label": label, "model": e.model.slug, "name": e.model.name, "mode": e.mode}
            for label, e in battle.entrants.items()]


def vote_json(vote: Vote) -> dict:
    return {"winner": vote.winner, "counted": vote.counted, "identity_words": vote.identity_words,
            "created_at": vote.created_at.isoformat()}


def battle_json(battle: Battle) -> dict:
    vote = Vote.objects.filter(battle=battle).first()
    revealed = vote is not None
    turns = battle.turns()
    return {
        "id": str(battle.id),
        "url": battle_url(battle),
        "mode": battle.mode,
        "created_at": battle.created_at.isoformat(),
        "vote": vote_json(vote) if vote else None,
        "responses": entrants_json(battle) if revealed else None,
        "turns": [
            {"id": str(turn.id), "prompt": turn.prompt,
             "responses": [response_json(r, revealed) for r in turn.responses.select_related("model").order_by("position")]}
            for turn in turns
        ],
    }


def created_json(battle: Battle, turn) -> dict:
    """The answer to starting a battle or a follow-up: ids, labels and statuses only."""
    return {
        "id": str(battle.id),
        "url": battle_url(battle),
        "turn": str(turn.id),
        "responses": [response_json(r, revealed=False, full=False) for r in turn.responses.order_by("position")],
    }


def snapshot_json(battle: Battle, turn) -> dict:
    """The SSE snapshot of the latest turn: blind, with each answer's seq."""
    return {
        "id": str(battle.id),
        "turn": str(turn.id),
        "responses": [response_json(r, revealed=False, seq=True) for r in turn.responses.order_by("position")],
    }


def scrub_event(message: dict) -> dict | None:
    """A streaming event with nothing that could name the model: text and status only."""
    kind = message["type"]
    if kind == "response.delta":
        return {key: message[key] for key in ("type", "response_id", "seq", "text", "kind")}
    if kind == "response.status":
        scrubbed = {key: message[key] for key in ("type", "response_id", "status")}
        if message["status"] == Status.FAILED:
            scrubbed["error"] = BLIND_ERROR
        return scrubbed
    return None  # quality scores and any later kind name the reference model or the engine
