"""The arena's JSON API (DESIGN.md): battles, their vote, the leaderboard, open votes."""

from asgiref.sync import sync_to_async
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from council.arena import battles, leaderboard, preferences
from council.arena.access import get_battle_for_user
from council.arena.models import BattleMode
from council.arena.serializers import battle_json, created_json, entrants_json, scrub_event, snapshot_json, vote_json
from council.comparisons import sse
from council.comparisons.access import get_response_for_user
from council.comparisons.api import api_endpoint, json_body
from council.comparisons.errors import SubmissionError


@require_POST
@api_endpoint
def create_battle(request):
    battle = battles.start(request.user, json_body(request))
    return JsonResponse(created_json(battle, battle.comparison), status=201)


@require_GET
@api_endpoint
def battle_detail(request, battle_id):
    return JsonResponse(battle_json(get_battle_for_user(request.user, battle_id)))


@require_POST
@api_endpoint
def vote(request, battle_id):
    battle = get_battle_for_user(request.user, battle_id)
    cast = battles.vote(battle, request.user, json_body(request))
    return JsonResponse({"id": str(battle.id), "vote": vote_json(cast), "responses": entrants_json(battle)})


@require_POST
@api_endpoint
def follow_up(request, battle_id):
    battle = get_battle_for_user(request.user, battle_id)
    turn = battles.follow_up(battle, json_body(request))
    return JsonResponse(created_json(battle, turn), status=201)


@require_POST
@api_endpoint
def cancel(request, battle_id):
    """Stop both answers of the latest turn, or one with ?label=A|B."""
    battle = get_battle_for_user(request.user, battle_id)
    battles.cancel(battle, request.GET.get("label"))
    return JsonResponse(battle_json(battle))


@require_GET
async def battle_events(request, battle_id):
    """The latest turn's events as SSE, blind: text and statuses only, labelled by response id."""
    user = request.user
    if not await sync_to_async(lambda: user.is_authenticated)():  # resolves the lazy session user, in a thread
        return JsonResponse({"error": "Authentication required."}, status=401)
    try:
        battle = await sync_to_async(get_battle_for_user)(user, battle_id)
        turn = await sync_to_async(battles.latest_turn)(battle)
    except Http404:
        return JsonResponse({"error": "No such battle."}, status=404)
    return await sse.event_stream(turn.id, lambda: snapshot_json(battle, turn), scrub_event)


@require_GET
@api_endpoint
def leaderboard_json(request):
    mode = request.GET.get("mode") or None
    if mode not in (None, BattleMode.FAST, BattleMode.THINKING):
        raise SubmissionError("mode must be fast or thinking (or left out for every entrant).")
    return JsonResponse(leaderboard.board_json(leaderboard.board(mode)))


@require_POST
@api_endpoint
def prefer(request, response_id):
    """Mark the preferred column of one turn of an ordinary comparison (an open vote: names seen)."""
    response = get_response_for_user(request.user, response_id)
    preferences.record(request.user, response)
    return JsonResponse({"comparison": str(response.comparison_id), "preferred": str(response.id),
                         "model": response.model.slug, "mode": response.mode})

