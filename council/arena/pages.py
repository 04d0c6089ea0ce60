"""What the battle templates need: columns labelled A and B, names only once the vote is in."""

from council.arena.models import LABELS, Battle, Vote, Winner
from council.comparisons.models import TERMINAL


def labelled(responses, battle: Battle, revealed: bool):
    """The responses, each with `.label` and `.entrant` (None while the names are hidden)."""
    responses = list(responses)
    for response in responses:
        response.label = LABELS[response.position]
        response.entrant = battle.entrants[response.label] if revealed else None
    return responses


def battle_context(battle: Battle) -> dict:
    *earlier, latest = battle.turns()
    vote = Vote.objects.filter(battle=battle).first()
    revealed = vote is not None
    responses = labelled(latest.responses.order_by("position"), battle, revealed)
    return {
        "battle": battle,
        "vote": vote,
        "revealed": revealed,
        "first": earlier[0] if earlier else latest,
        "turn": latest,
        "responses": responses,
        "earlier": [(turn, labelled(turn.responses.order_by("position"), battle, revealed)) for turn in earlier],
        "can_vote": not revealed and all(r.status in TERMINAL for r in responses),
        "winners": Winner.choices,
    }
