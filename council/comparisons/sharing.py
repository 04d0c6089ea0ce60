"""Read-only sharing by unguessable link, and export (owner, or anyone holding the link)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from council.comparisons import exports
from council.comparisons.access import get_comparison_for_user, get_shared_comparison
from council.comparisons.models import TERMINAL


@require_POST
@login_required
def share(request, comparison_id):
    get_comparison_for_user(request.user, comparison_id).share()
    return redirect("comparison", comparison_id)


@require_POST
@login_required
def unshare(request, comparison_id):
    get_comparison_for_user(request.user, comparison_id).unshare()
    return redirect("comparison", comparison_id)


@require_GET
def shared_page(request, token):
    """The shared turn with the turns that led to it, no Stop or Regenerate; polls (no
    WebSocket) until all are finished, and a poll (htmx) gets the columns alone. Later
    turns of the thread are not shared."""
    comparison = get_shared_comparison(token)
    responses = list(comparison.responses.select_related("model").order_by("position"))
    finished = all(r.status in TERMINAL for r in responses)
    if request.htmx:
        return render(request, "comparisons/_shared_columns.html", {
            "responses": responses, "read_only": True, "finished": finished,
        })
    return render(request, "comparisons/shared.html", {
        "earlier": [(turn, turn.responses.select_related("model").order_by("position"))
                    for turn in comparison.ancestors()],
        "comparison": comparison,
        "responses": responses,
        "read_only": True,
        "finished": finished,
        "export_formats": exports.FORMATS,
    })


def _export(comparison, fmt):
    body = exports.RENDERERS[fmt](comparison)
    response = HttpResponse(body, content_type=exports.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="comparison-{comparison.id}.{fmt}"'
    return response


@require_GET
@login_required
def export(request, comparison_id, fmt):
    return _export(get_comparison_for_user(request.user, comparison_id), fmt)


@require_GET
def shared_export(request, token, fmt):
    return _export(get_shared_comparison(token), fmt)
