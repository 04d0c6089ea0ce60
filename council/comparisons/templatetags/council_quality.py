"""The page's view of FAST's quality: the agreement line, the diff against THINKING, what THINKING computes."""

from django import template

from council.comparisons import quality
from council.comparisons.models import Mode, Response
from council.lib.worddiff import word_diff

register = template.Library()


@register.filter
def quality_line(value: dict | None) -> str:
    return quality.summary(value)


@register.filter
def quality_awaited(response: Response) -> bool:
    return quality.awaiting(response)


@register.simple_tag
def diff_against_thinking(response: Response):
    """{diff, temperature}: the word diff of a finished FAST answer against the same model's
    finished THINKING answer in the same turn (mode both), and the temperature both sampled at; or None."""
    if response.mode != Mode.FAST or not response.is_terminal:
        return None
    pair = (
        Response.objects.filter(comparison_id=response.comparison_id, model_id=response.model_id, mode=Mode.THINKING,
                                role=response.role)
        .only("text", "status")
        .first()
    )
    if pair is None or not pair.is_terminal:
        return None
    comparison = response.comparison
    temperature = comparison.temperature if comparison.temperature is not None else response.model.temperature
    return {"diff": word_diff(response.text, pair.text), "temperature": temperature}


@register.filter
def thinking_weights_of(model):
    """What THINKING computes for this model: {label, note, dequantized}, or None for a remote server."""
    import inference

    return inference.thinking_weights(model.to_spec())
