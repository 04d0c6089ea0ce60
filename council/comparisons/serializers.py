"""The JSON shapes of DESIGN.md's API."""

from council.comparisons.models import Comparison, Response
from inference import Metrics

METRIC_KEYS = tuple(Metrics.__dataclass_fields__)


def metrics_json(response: Response) -> dict:
    return {key: response.metrics.get(key) for key in METRIC_KEYS}


def response_json(response: Response, full: bool = True, seq: bool = False) -> dict:
    """The API's shape; `seq` adds the seq the text is complete up to (the SSE snapshot)."""
    data = {"id": str(response.id), "model": response.model.slug, "mode": response.mode, "status": response.status}
    if full:
        data.update(
            text=response.text,
            reasoning=response.reasoning,
            error=response.error or None,
            metrics=metrics_json(response),
            previous=str(response.previous_id) if response.previous_id else None,
            truncated_turns=response.truncated_turns,
            quality=response.quality,
        )
    if seq:
        data["seq"] = response.seq
    return data


def comparison_json(comparison: Comparison, full: bool = True, seq: bool = False) -> dict:
    responses = comparison.responses.select_related("model").order_by("position")
    data = {
        "id": str(comparison.id),
        "url": comparison_url(comparison),
        "prompt": comparison.prompt,
        "mode": comparison.mode,
        "created_at": comparison.created_at.isoformat(),
        "parent": str(comparison.parent_id) if comparison.parent_id else None,
        "follow_ups": [str(pk) for pk in comparison.follow_ups.order_by("created_at").values_list("id", flat=True)],
        "responses": [response_json(r, full, seq) for r in responses],
    }
    if not full:
        data = {"id": data["id"], "url": data["url"], "responses": data["responses"]}
    return data


def comparison_url(comparison: Comparison) -> str:
    from django.urls import reverse

    return reverse("comparison", args=[comparison.id])
