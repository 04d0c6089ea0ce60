"""Every FAST answer checked against the same model's THINKING weights, behind every answer.

When a FAST answer ends, the runner queues `comparisons.measure_quality` on the model's own
queue at `dispatch.PRIORITY_BACKGROUND`: Redis keeps one list per priority on each queue and
workers take the lower lists first (the in-process pool of embedded mode keeps the same
order), so a quality check never starts before an answer that is waiting. It teacher-forces
the answer through both engines (`inference.measure_quality`), stores the result on
`Response.quality` and publishes `response.quality {response_id, quality}`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from council.comparisons.events import Publisher
from council.comparisons.models import Mode, Response, Status

log = logging.getLogger(__name__)

# Backends that serve both modes on local engines, whose logits the check can read.
REMOTE_BACKENDS = ("openai", "vllm")


def expected(response: Response) -> bool:
    """Whether a quality figure is on its way (or due) for this response: a finished FAST answer
    of a local model with its check on, not yet measured, outside blind battles."""
    return (
        response.mode == Mode.FAST
        and not response.comparison.blind  # a score would tell a blind battle's voter the mode
        and response.status == Status.DONE
        and response.quality is None
        and bool(response.text)
        and response.model.quality_check
        and response.model.backend not in REMOTE_BACKENDS
    )


# An answer that ended longer ago than this without a score is not shown as being measured
# (it ended before the check existed, or its check was lost); its score still lands if it comes.
PENDING_SECONDS = 600


def awaiting(response: Response) -> bool:
    """Whether the page and the event stream should wait for this response's score now."""
    recent = timezone.now() - timedelta(seconds=PENDING_SECONDS)
    return expected(response) and response.finished_at is not None and response.finished_at >= recent


def queue_check(response: Response) -> bool:
    """Queue the quality check of a finished FAST answer, behind every waiting answer.

    Never raises: a check that cannot be queued leaves the answer as it is.
    """
    from council.comparisons import dispatch
    from council.comparisons.tasks import measure_quality_task

    try:
        response.refresh_from_db(fields=["status", "text", "quality"])
        if not expected(response):
            return False
        dispatch.submit(measure_quality_task, str(response.id), queue=response.model.queue,
                        priority=dispatch.PRIORITY_BACKGROUND)
        return True
    except Exception:
        log.exception("could not queue the quality check of response %s", response.id)
        return False


def measure(response_id) -> dict | None:
    """Score one FAST answer against THINKING; store and publish the result. None if not due."""
    response = Response.objects.select_related("model", "comparison", "previous__comparison").get(id=response_id)
    if not expected(response):
        return None
    return record(response, score(response))


def score(response: Response) -> dict:
    """The `quality` object of a finished FAST answer: teacher forcing through both of its
    model's engines, or null figures and why it could not be measured."""
    import inference
    from council.comparisons.runner import build_request

    spec = response.model.to_spec()
    try:
        if not inference.can_measure_quality(spec):
            raise inference.EngineError("its engines give no logits to compare")
        messages = build_request(response, inference.resolve(spec, inference.Mode.FAST)).messages
        fast = inference.get_engine(spec, inference.Mode.FAST)
        thinking = inference.get_engine(spec, inference.Mode.THINKING)
        return inference.measure_quality(fast, thinking, messages, response.text).as_dict()
    except inference.EngineError as exc:
        return inference.quality_not_measured(str(exc))
    except Exception as exc:
        log.exception("quality check of response %s failed", response.id)
        return inference.quality_not_measured(f"{type(exc).__name__}: {exc}")


def record(response: Response, quality: dict) -> dict | None:
    """Store a response's quality once and publish it as `response.quality`; None if already stored.

    Only onto the answer that was scored: a column regenerated meanwhile keeps its own.
    """
    if not Response.objects.filter(id=response.id, quality__isnull=True, status=Status.DONE,
                                   text=response.text).update(quality=quality):
        return None  # deleted, regenerated, or measured by another delivery
    publisher = Publisher(response.comparison_id)
    try:
        publisher.send({"type": "response.quality", "response_id": str(response.id), "quality": quality})
    finally:
        publisher.close()
    return quality


def summary(quality: dict | None) -> str:
    """One line for a person: "agrees with THINKING on 97 % of its tokens · KL 0.02 · first divergence at token 41"."""
    if not quality:
        return ""
    if quality.get("error"):
        return f"agreement with THINKING not measured: {quality['error']}"
    if not quality.get("tokens"):
        return "no answer tokens to compare with THINKING"
    parts = [f"agrees with THINKING on {quality['top1_agreement'] * 100:.0f} % of its tokens",
             f"KL {quality['mean_kl']:.2f}"]
    first = quality.get("first_divergence")
    parts.append("no divergence" if first is None else f"first divergence at token {first + 1}")
    return " · ".join(parts)
