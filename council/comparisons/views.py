"""Pages: the prompt form, the side-by-side comparison, and the history of past comparisons."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from council.catalog.models import LanguageModel
from council.comparisons import actions, exports, submission
from council.comparisons.errors import SubmissionError, with_retry_after
from council.comparisons.access import get_comparison_for_user, threads_for
from council.comparisons.models import Mode
from council.comparisons.search import threads_matching

HISTORY_PAGE_SIZE = 25


def _form_context(request, data=None, error=None):
    return {
        "models": LanguageModel.objects.filter(enabled=True),
        "modes": Mode.choices,
        "data": data or {"mode": Mode.FAST},
        "error": error,
        "recent": threads_for(request.user)[:10],
    }


@require_GET
@login_required
def home(request):
    return render(request, "comparisons/home.html", _form_context(request))


@require_POST
@login_required
def submit(request):
    data = {
        "prompt": request.POST.get("prompt", ""),
        "system_prompt": request.POST.get("system_prompt", ""),
        "models": request.POST.getlist("models"),
        "mode": request.POST.get("mode", Mode.FAST),
        "max_tokens": request.POST.get("max_tokens") or None,
        "temperature": request.POST.get("temperature") or None,
    }
    try:
        comparison = submission.create(request.user, submission.parse(data, request.user))
    except SubmissionError as exc:
        return with_retry_after(
            render(request, "comparisons/home.html", _form_context(request, data, str(exc)), status=exc.status), exc
        )
    return redirect("comparison", comparison.id)


def _render_thread(request, comparison, prompt="", error=None, status=200):
    """The thread from its first turn to its latest; only the latest streams and takes a follow-up."""
    *earlier, latest = turns = comparison.thread()
    return render(request, "comparisons/comparison.html", {
        "first": turns[0],
        "comparison": latest,
        "responses": latest.responses.select_related("model").order_by("position"),
        "earlier": [(turn, turn.responses.select_related("model").order_by("position")) for turn in earlier],
        "follow_up": {"prompt": prompt, "error": error},
        "export_formats": exports.FORMATS,
    }, status=status)


@require_GET
@login_required
def comparison_page(request, comparison_id):
    return _render_thread(request, get_comparison_for_user(request.user, comparison_id))


@require_POST
@login_required
def follow_up(request, comparison_id):
    """The follow-up form under the columns; back to the thread, or the thread with the error."""
    parent = get_comparison_for_user(request.user, comparison_id)
    prompt = request.POST.get("prompt", "")
    try:
        comparison = submission.create(
            request.user, submission.parse_follow_up({"prompt": prompt}, request.user, parent), parent=parent
        )
    except SubmissionError as exc:
        return with_retry_after(_render_thread(request, parent, prompt, str(exc), status=exc.status), exc)
    except actions.Conflict as exc:
        return _render_thread(request, parent, prompt, str(exc), status=409)
    return redirect("comparison", comparison.id)


@require_GET
@login_required
def history(request):
    """The user's threads, newest first; ?q= keeps those where some prompt or answer contains it."""
    query = request.GET.get("q", "").strip()
    comparisons = threads_matching(request.user, query).prefetch_related(
        "responses__model", "open_votes__response__model"
    )
    page = Paginator(comparisons, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "comparisons/history.html", {"page": page, "query": query})


@require_POST
@login_required
def delete(request, comparison_id):
    """Stop whatever still runs, then delete; a worker finding its row gone just ends."""
    comparison = get_comparison_for_user(request.user, comparison_id)
    for turn in comparison.thread():  # deleting a turn deletes the turns after it
        actions.cancel_comparison(turn)
    comparison.delete()
    messages.success(request, "Comparison deleted.")
    return redirect("history")
