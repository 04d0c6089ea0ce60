"""Pages: the prompt form, the side-by-side comparison, and the history of past comparisons."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from council.catalog.models import LanguageModel
from council.comparisons import actions, exports, submission
from council.comparisons.errors import SubmissionError
from council.comparisons.access import comparisons_for, get_comparison_for_user
from council.comparisons.models import Mode

HISTORY_PAGE_SIZE = 25


def _form_context(request, data=None, error=None):
    return {
        "models": LanguageModel.objects.filter(enabled=True),
        "modes": Mode.choices,
        "data": data or {"mode": Mode.FAST},
        "error": error,
        "recent": comparisons_for(request.user)[:10],
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
        response = render(request, "comparisons/home.html", _form_context(request, data, str(exc)), status=exc.status)
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
        return response
    return redirect("comparison", comparison.id)


@require_GET
@login_required
def comparison_page(request, comparison_id):
    comparison = get_comparison_for_user(request.user, comparison_id)
    responses = comparison.responses.select_related("model").order_by("position")
    return render(request, "comparisons/comparison.html", {
        "comparison": comparison, "responses": responses, "export_formats": exports.FORMATS,
    })


@require_GET
@login_required
def history(request):
    """The user's comparisons, newest first; ?q= keeps those whose prompt contains it."""
    query = request.GET.get("q", "").strip()
    comparisons = comparisons_for(request.user).prefetch_related("responses__model")
    if query:
        comparisons = comparisons.filter(prompt__icontains=query)
    page = Paginator(comparisons, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "comparisons/history.html", {"page": page, "query": query})


@require_POST
@login_required
def delete(request, comparison_id):
    """Stop whatever still runs, then delete; a worker finding its row gone just ends."""
    comparison = get_comparison_for_user(request.user, comparison_id)
    actions.cancel_comparison(comparison)
    comparison.delete()
    messages.success(request, "Comparison deleted.")
    return redirect("history")
