"""`/ws/battles/<id>/`: the latest turn's columns, labelled A and B, and the vote panel, live."""

from channels.db import database_sync_to_async
from django.http import Http404
from django.template.loader import render_to_string

from council.arena import battles
from council.arena.access import get_battle_for_user
from council.arena.pages import battle_context
from council.comparisons.consumers import ComparisonConsumer

PASSED = {"response.delta", "response.status"}


@database_sync_to_async
def _battle_turn(user, battle_id):
    try:
        battle = get_battle_for_user(user, battle_id)
    except Http404:
        return None, None
    return battle, battles.latest_turn(battle)


@database_sync_to_async
def _columns(battle, response_id=None):
    """Every column (few: two) and the vote panel, rendered from the database, blind until the vote."""
    context = battle_context(battle)
    rendered = [
        (str(r.id), r.seq, render_to_string("arena/_column.html", {**context, "response": r, "oob": True}))
        for r in context["responses"]
        if response_id is None or str(r.id) == response_id or not r.is_terminal
    ]
    rendered.append(("vote-panel", 0, render_to_string("arena/_vote.html", {**context, "oob": True})))
    return rendered


class BattleConsumer(ComparisonConsumer):
    delta_template = "arena/_delta.html"

    async def find_comparison(self):
        self.battle, turn = await _battle_turn(self.scope["user"], self.scope["url_route"]["kwargs"]["battle_id"])
        return turn

    async def render_columns(self, response_id=None):
        return await _columns(self.battle, response_id)

    async def dispatch(self, message):
        # Only text and statuses reach a blind page: any other event kind (quality scores,
        # later additions) may name the model or its engine.
        kind = message["type"]
        if kind.startswith("websocket.") or kind in PASSED:
            await super().dispatch(message)
