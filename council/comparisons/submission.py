"""Validates a comparison request and creates its rows, from the form or the JSON API."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from council.catalog.models import LanguageModel
from council.comparisons import dispatch, limits
from council.comparisons.errors import SubmissionError
from council.comparisons.models import Comparison, Mode, Response


@dataclass(frozen=True)
class Submission:
    prompt: str
    models: list[LanguageModel]
    mode: str
    system_prompt: str = ""
    max_tokens: int | None = None
    temperature: float | None = None


def _number(data: dict, name: str, kind: type, low: float, high: float):
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SubmissionError(f"{name} must be a number.")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SubmissionError(f"{name} must be a {'whole ' if kind is int else ''}number.") from None
    if kind is int and isinstance(value, float) and value != number:
        raise SubmissionError(f"{name} must be a whole number.")
    if not low <= number <= high:
        raise SubmissionError(f"{name} must be between {low} and {high}.")
    return number


def _text(data: dict, name: str, limit: int, required: bool) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise SubmissionError(f"{name} must be a string.")
    if required and not value.strip():
        raise SubmissionError(f"{name} must not be empty.")
    if len(value) > limit:
        raise SubmissionError(f"{name} is {len(value)} characters long; the limit is {limit}.")
    if "\x00" in value:
        raise SubmissionError(f"{name} must not contain NUL characters.")
    return value


def parse(data, user) -> Submission:
    """A Submission from request data (a dict), or SubmissionError."""
    if not isinstance(data, dict):
        raise SubmissionError("The request body must be a JSON object.")
    prompt = _text(data, "prompt", settings.COUNCIL_MAX_PROMPT_CHARS, required=True)
    system_prompt = _text(data, "system_prompt", settings.COUNCIL_MAX_PROMPT_CHARS, required=False)

    mode = data.get("mode", Mode.FAST)
    if mode not in Mode.values:
        raise SubmissionError(f"mode must be one of {', '.join(Mode.values)}.")

    slugs = data.get("models")
    if not isinstance(slugs, list) or not slugs or not all(isinstance(s, str) for s in slugs):
        raise SubmissionError("models must be a non-empty list of model slugs (see GET /api/models).")
    slugs = list(dict.fromkeys(slugs))
    if len(slugs) > settings.COUNCIL_MAX_MODELS:
        raise SubmissionError(f"Choose at most {settings.COUNCIL_MAX_MODELS} models per comparison.")
    available = LanguageModel.objects.all() if user.is_staff else LanguageModel.objects.filter(enabled=True)
    found = {m.slug: m for m in available.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise SubmissionError(f"Unknown or disabled model: {', '.join(unknown)[:200]}.")
    models = [found[s] for s in slugs]

    limit = min(m.max_tokens_limit for m in models)
    max_tokens = _number(data, "max_tokens", int, 1, limit)
    temperature = _number(data, "temperature", float, 0.0, 2.0)
    return Submission(prompt, models, mode, system_prompt, max_tokens, temperature)


def create(owner, submission: Submission) -> Comparison:
    """The comparison and its responses in one transaction; tasks are sent after commit."""
    modes = [Mode.FAST, Mode.THINKING] if submission.mode == Mode.BOTH else [submission.mode]
    limits.check(owner, new_responses=len(submission.models) * len(modes))
    dispatch.check_available()
    with transaction.atomic():
        comparison = Comparison.objects.create(
            owner=owner,
            prompt=submission.prompt,
            system_prompt=submission.system_prompt,
            mode=submission.mode,
            max_tokens=submission.max_tokens,
            temperature=submission.temperature,
        )
        responses = Response.objects.bulk_create(
            Response(comparison=comparison, model=model, mode=mode, position=position)
            for position, (model, mode) in enumerate((m, mode) for m in submission.models for mode in modes)
        )
        transaction.on_commit(lambda: dispatch.enqueue(responses))
    return comparison
