"""Battles made the way the API makes them, and votes on them, without a worker."""

import itertools
import json

from council.arena.models import Battle, Entrant, Vote
from council.comparisons.models import Comparison, Response, Status


def post_json(client, path, data):
    return client.post(path, data=json.dumps(data), content_type="application/json")


def finish(turn, texts=("The sea is wide.", "Waves roll in."), status=Status.DONE):
    """End both answers of `turn` (A's text first)."""
    for response, text in zip(turn.responses.order_by("position"), texts):
        response.status = status
        response.text = text
        response.save()


def entrant(model, mode):
    return Entrant.objects.get_or_create(model=model, mode=mode)[0]


_counter = itertools.count()


def decided(owner, a: Entrant, b: Entrant, winner: str, **vote) -> Battle:
    """A finished battle with its vote, written straight to the database (leaderboard tests)."""
    comparison = Comparison.objects.create(owner=owner, prompt=f"Question {next(_counter)}", mode="both", blind=True)
    for position, e in enumerate((a, b)):
        Response.objects.create(comparison=comparison, model=e.model, mode=e.mode, position=position,
                                status=Status.DONE, text="An answer.")
    battle = Battle.objects.create(owner=owner, mode="any", comparison=comparison, entrant_a=a, entrant_b=b)
    Vote.objects.create(battle=battle, voter=owner, winner=winner, **vote)
    return battle
