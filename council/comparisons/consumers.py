"""`/ws/comparisons/<id>/`: the state so far, then live events, as htmx out-of-band fragments."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db.models import Q
from django.http import Http404
from django.template.loader import render_to_string

from council.comparisons.access import get_comparison_for_user
from council.comparisons.events import group_for
from council.comparisons.models import Response, Status

FORBIDDEN = 4403


@database_sync_to_async
def _comparison_for(user, comparison_id):
    try:
        return get_comparison_for_user(user, comparison_id)
    except Http404:
        return None


@database_sync_to_async
def _columns(comparison_id, response_id=None):
    """[(response_id, seq, html)] for the comparison's columns, rendered from the database.

    With a response_id: that column, the same model's column in the other mode (whose diff and
    quality line read both), and the queued ones, whose place in the queue may have moved.
    """
    responses = Response.objects.select_related("model").filter(comparison_id=comparison_id)
    if response_id is not None:
        same_model = Response.objects.filter(id=response_id).values("model_id")
        responses = responses.filter(Q(id=response_id) | Q(model_id__in=same_model) | Q(status=Status.QUEUED))
    return [
        (str(r.id), r.seq, render_to_string("comparisons/_column.html", {"response": r, "oob": True}))
        for r in responses
    ]


class ComparisonConsumer(AsyncWebsocketConsumer):
    delta_template = "comparisons/_delta.html"

    async def find_comparison(self):
        """The turn this socket follows, or None when the user may not see it."""
        return await _comparison_for(self.scope["user"], self.scope["url_route"]["kwargs"]["comparison_id"])

    async def render_columns(self, response_id=None):
        """[(response_id, seq, html)]: see `_columns`."""
        return await _columns(self.comparison_id, response_id)

    async def connect(self):
        comparison = await self.find_comparison()
        if comparison is None:
            await self.close(code=FORBIDDEN)
            return
        self.comparison_id = comparison.id
        self.group = group_for(comparison.id)
        self.seen: dict[str, int] = {}
        # Join before reading the database, so no event falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send_columns()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing this consumer needs: Stop and Regenerate go through the API."""

    async def _send_columns(self, response_id=None):
        for rid, seq, html in await self.render_columns(response_id):
            self.seen[rid] = seq
            await self.send(text_data=html)

    async def response_delta(self, event):
        rid = event["response_id"]
        if event["seq"] <= self.seen.get(rid, 0):
            return  # already in the text this client got from the database
        self.seen[rid] = event["seq"]
        await self.send(text_data=render_to_string(self.delta_template, {"event": event}))

    async def response_status(self, event):
        await self._send_columns(event["response_id"])

    async def response_quality(self, event):
        """A FAST answer's agreement with THINKING, measured after it ended: its column again."""
        await self._send_columns(event["response_id"])
