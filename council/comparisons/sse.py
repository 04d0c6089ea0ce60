"""`GET /api/comparisons/<id>/events`: the streaming events as Server-Sent Events, for scripts.

First a `snapshot` event (the comparison as GET returns it, plus each response's seq),
then `response.delta`, `response.status` and `response.quality` events as the workers
publish them, then `end` once every response is terminal and every FAST answer's quality
check has landed (or QUALITY_WAIT_SECONDS after the last answer ended, if none comes).
"""

import asyncio
import logging
import json

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from council.comparisons import quality
from council.comparisons.access import get_comparison_for_user
from council.comparisons.events import group_for, status_message
from council.comparisons.models import TERMINAL, Response
from council.comparisons.serializers import comparison_json

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15
MAX_STREAM_SECONDS = 3600
QUALITY_WAIT_SECONDS = 120  # a quality check waits behind every queued answer of its queue


def _user(request):
    user = request.user
    user.is_authenticated  # resolves the lazy session user here, in a thread
    return user


def _finished_since(comparison_id, open_ids) -> list[dict]:
    """Status events, from the database, for responses that ended without this stream hearing it."""
    finished = Response.objects.filter(comparison_id=comparison_id, id__in=open_ids, status__in=TERMINAL)
    return [status_message(r.id, r.status, r.metrics, r.error or None) for r in finished]


def _awaiting_quality(comparison_id, ids=None) -> set[str]:
    """Ids of the finished FAST answers whose quality check has not landed yet."""
    responses = Response.objects.select_related("model", "comparison").filter(
        comparison_id=comparison_id, quality__isnull=True)
    if ids is not None:
        responses = responses.filter(id__in=list(ids))
    return {str(r.id) for r in responses if quality.awaiting(r)}


def _measured_since(comparison_id, ids) -> list[dict]:
    """Quality events, from the database, for checks that landed without this stream hearing it."""
    measured = Response.objects.filter(comparison_id=comparison_id, id__in=list(ids), quality__isnull=False)
    return [{"type": "response.quality", "response_id": str(r.id), "quality": r.quality} for r in measured]


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


@require_GET
async def comparison_events(request, comparison_id):
    user = await sync_to_async(_user)(request)
    if not user.is_authenticated:
        return JsonResponse({"error": "Authentication required."}, status=401)
    try:
        comparison = await sync_to_async(get_comparison_for_user)(user, comparison_id)
    except Http404:
        return JsonResponse({"error": "No such comparison."}, status=404)
    return await event_stream(comparison.id, lambda: comparison_json(comparison, seq=True))


async def event_stream(comparison_id, snapshot_of, scrub=None) -> StreamingHttpResponse:
    """The turn's events as SSE: `snapshot_of()` (read after joining the group), then live events.

    `scrub(message)` may reshape each event before it leaves, or drop it by returning None
    (arena battles keep the models' names out of their stream).
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = group_for(comparison_id)
    # Join before reading the snapshot, so no event falls between the two.
    await layer.group_add(group, channel)
    snapshot = await sync_to_async(snapshot_of)()
    scrub = scrub or (lambda message: message)

    async def stream():
        # One task owns layer.receive for the whole stream: cancelling a channels_redis
        # receive at every keepalive timeout can lose messages and break its connections.
        inbox: asyncio.Queue = asyncio.Queue()

        async def pump():
            while True:
                try:
                    message = await layer.receive(channel)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # redis-py 8 can time a blocking read out just as channels_redis's 5 s
                    # BZPOPMIN returns empty; an uncaught error here ended every later event
                    # of the stream. Receive again (messages wait in Redis meanwhile).
                    log.debug("SSE receive failed (%s: %s); receiving again", type(exc).__name__, exc)
                    await asyncio.sleep(0.1)
                    continue
                inbox.put_nowait(message)

        reader = asyncio.create_task(pump())
        try:
            yield _event("snapshot", snapshot)
            seen = {str(r["id"]): r["seq"] for r in snapshot["responses"]}
            open_ids = {r["id"] for r in snapshot["responses"] if r["status"] not in TERMINAL}
            awaiting = await sync_to_async(_awaiting_quality)(comparison_id)
            measured = {r["id"] for r in snapshot["responses"] if r.get("quality") is not None}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + MAX_STREAM_SECONDS
            quality_deadline = None
            while (open_ids or awaiting) and loop.time() < deadline:
                if not open_ids:
                    quality_deadline = quality_deadline or loop.time() + QUALITY_WAIT_SECONDS
                    if loop.time() >= quality_deadline:
                        break
                try:
                    message = await asyncio.wait_for(inbox.get(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    # A quiet stream checks the database, so a lost event cannot keep it open for ever.
                    late = await sync_to_async(_finished_since)(comparison_id, list(open_ids))
                    for message in late:
                        open_ids.discard(message["response_id"])
                        awaiting |= await sync_to_async(_awaiting_quality)(comparison_id, [message["response_id"]])
                    for message in late + await sync_to_async(_measured_since)(comparison_id, awaiting):
                        if message["type"] == "response.quality":
                            awaiting.discard(message["response_id"])
                            measured.add(message["response_id"])
                        if (message := scrub(message)) is not None:
                            yield _event(message.pop("type"), message)
                    yield ": keepalive\n\n"
                    continue
                kind = message["type"]
                rid = message.get("response_id")
                late = []
                if kind == "response.delta":
                    if message["seq"] <= seen.get(rid, 0):
                        continue
                    seen[rid] = message["seq"]
                elif kind == "response.quality":
                    if rid in measured:
                        continue
                    measured.add(rid)
                    awaiting.discard(rid)
                elif kind == "response.status":
                    if message["status"] in TERMINAL:
                        open_ids.discard(rid)
                        awaiting |= await sync_to_async(_awaiting_quality)(comparison_id, [rid])
                        # A check quicker than this stream: its event may have gone by already.
                        late = await sync_to_async(_measured_since)(comparison_id, {rid} - measured)
                        measured.update(m["response_id"] for m in late)
                        awaiting.difference_update(m["response_id"] for m in late)
                    else:
                        open_ids.add(rid)
                for message in [message, *late]:
                    if (message := scrub(message)) is not None:
                        yield _event(message.pop("type"), message)
            yield _event("end", {"id": str(comparison_id)})
        finally:
            reader.cancel()
            await layer.group_discard(group, channel)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
