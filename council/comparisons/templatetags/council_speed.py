"""`{% fast_vs_thinking response as pair %}`: the speed ratio of a model's FAST and THINKING columns in one turn."""

from django import template

from council.comparisons.speed import fast_vs_thinking as ratio

register = template.Library()


@register.simple_tag
def fast_vs_thinking(response):
    """The ratio (see council.comparisons.speed) once both columns of the pair are done; None otherwise."""
    if response.status != "done" or response.role != "answer":
        return None
    other_mode = "thinking" if response.mode == "fast" else "fast"
    other = (response.comparison.responses.filter(model_id=response.model_id, mode=other_mode, role="answer", status="done")
             .only("metrics").first())
    if other is None:
        return None
    fast, thinking = (response, other) if response.mode == "fast" else (other, response)
    return ratio(fast.metrics or {}, thinking.metrics or {})
