"""Pages: start a battle, watch it blind, vote, and the leaderboard."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from council.arena import battles, leaderboard, preferences
from council.arena.access import get_battle_for_user
from council.arena.models import Battle, BattleMode
from council.arena.pages import battle_context
from council.comparisons.access import get_response_for_user
from council.comparisons.actions import Conflict
from council.comparisons.errors import SubmissionError, with_retry_after

RECENT_BATTLES = 20


def _home(request, data=None, error=None, status=200):
    return render(request, "arena/home.html", {
        "modes": BattleMode.choices,
        "data": data or {"mode": BattleMode.ANY},
        "error": error,
        "battles": Battle.objects.filter(owner=request.user).select_related("comparison", "vote")[:RECENT_BATTLES],
    }, status=status)


@require_GET
@login_required
def home(request):
    return _home(request)


def _refused(page, exc):
    """`page(error, status)` again with the reason: the error's status (409 for a Conflict), and its Retry-After."""
    return with_retry_after(page(str(exc), 409 if isinstance(exc, Conflict) else exc.status), exc)


@require_POST
@login_required
def start(request):
    data = {"prompt": request.POST.get("prompt", ""), "mode": request.POST.get("mode", BattleMode.ANY)}
    try:
        battle = battles.start(request.user, data)
    except SubmissionError as exc:
        return _refused(lambda error, status: _home(request, data, error, status), exc)
    return redirect("arena-battle", battle.id)


def _battle_page(request, battle, prompt="", error=None, status=200):
    return render(request, "arena/battle.html", {
        **battle_context(battle), "follow_up": {"prompt": prompt, "error": error},
    }, status=status)


@require_GET
@login_required
def battle_page(request, battle_id):
    return _battle_page(request, get_battle_for_user(request.user, battle_id))


@require_POST
@login_required
def vote(request, battle_id):
    battle = get_battle_for_user(request.user, battle_id)
    try:
        battles.vote(battle, request.user, {"winner": request.POST.get("winner")})
    except (SubmissionError, Conflict) as exc:
        return _refused(lambda error, status: _battle_page(request, battle, "", error, status), exc)
    if request.htmx:  # the vote panel's buttons: reload the page, now with the names
        return HttpResponse(status=204, headers={"HX-Redirect": reverse("arena-battle", args=[battle.id])})
    return redirect("arena-battle", battle.id)


@require_POST
@login_required
def follow_up(request, battle_id):
    battle = get_battle_for_user(request.user, battle_id)
    prompt = request.POST.get("prompt", "")
    try:
        battles.follow_up(battle, {"prompt": prompt})
    except (SubmissionError, Conflict) as exc:
        return _refused(lambda error, status: _battle_page(request, battle, prompt, error, status), exc)
    return redirect("arena-battle", battle.id)


@require_GET
@login_required
def leaderboard_page(request):
    mode = request.GET.get("mode") or None
    if mode not in (BattleMode.FAST, BattleMode.THINKING):
        mode = None
    board = leaderboard.board(mode)
    return render(request, "arena/leaderboard.html", {
        "board": board,
        "chart": leaderboard.chart(board.rows),
        "open_votes": leaderboard.open_votes(mode),
        "mode": mode,
        "modes": [(BattleMode.FAST, "Fast"), (BattleMode.THINKING, "Thinking")],
    })


@require_POST
@login_required
def prefer(request, response_id):
    """The comparison page's "Prefer" button; the API's rules, back to the thread."""
    response = get_response_for_user(request.user, response_id)
    try:
        preferences.record(request.user, response)
    except (SubmissionError, Conflict):
        pass  # the button shows only where a preference is allowed; a stale page just reloads
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Refresh": "true"})
    return redirect("comparison", response.comparison.thread()[-1].id)
