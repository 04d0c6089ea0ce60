"""Pages: the prompt form and the side-by-side comparison."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from council.catalog.models import LanguageModel
from council.comparisons import submission
from council.comparisons.access import comparisons_for, get_comparison_for_user
from council.comparisons.models import Mode


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
    except submission.SubmissionError as exc:
        return render(request, "comparisons/home.html", _form_context(request, data, str(exc)), status=400)
    return redirect("comparison", comparison.id)


@require_GET
@login_required
def comparison_page(request, comparison_id):
    comparison = get_comparison_for_user(request.user, comparison_id)
    responses = comparison.responses.select_related("model").order_by("position")
    return render(request, "comparisons/comparison.html", {"comparison": comparison, "responses": responses})
