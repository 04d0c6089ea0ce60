"""Validates a comparison request and creates its rows, from the form or the JSON API."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from council.catalog.models import LanguageModel
from council.comparisons import dispatch, limits
from council.comparisons.access import models_for
from council.comparisons.actions import Conflict
from council.comparisons.errors import SubmissionError
from council.comparisons.models import Comparison, Mode, Response, Status


@dataclass(frozen=True)
class Submission:
    prompt: str
    models: list[LanguageModel]
    mode: str
    system_prompt: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    # Explicit (model, mode) columns, in order (arena battles); empty: each model in each mode.
    columns: tuple = ()
    blind: bool = False

    def pairs(self) -> list[tuple[LanguageModel, str]]:
        if self.columns:
            return list(self.columns)
        modes = [Mode.FAST, Mode.THINKING] if self.mode == Mode.BOTH else [self.mode]
        return [(model, mode) for model in self.models for mode in modes]


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


def parse_prompt(data) -> str:
    """The prompt of request data, checked as a comparison's is (arena battles draw their own models)."""
    if not isinstance(data, dict):
        raise SubmissionError("The request body must be a JSON object.")
    return _text(data, "prompt", settings.COUNCIL_MAX_PROMPT_CHARS, required=True)


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
    available = models_for(user)
    found = {m.slug: m for m in available.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise SubmissionError(f"Unknown or disabled model: {', '.join(unknown)[:200]}.")
    models = [found[s] for s in slugs]

    limit = min(m.max_tokens_limit for m in models)
    max_tokens = _number(data, "max_tokens", int, 1, limit)
    temperature = _number(data, "temperature", float, 0.0, 2.0)
    return Submission(prompt, models, mode, system_prompt, max_tokens, temperature)


def parse_follow_up(data, user, parent: Comparison) -> Submission:
    """A Submission for a follow-up on `parent`: the new prompt, with the parent's columns and settings."""
    if not isinstance(data, dict):
        raise SubmissionError("The request body must be a JSON object.")
    slugs = list(dict.fromkeys(r.model.slug for r in parent.responses.select_related("model").order_by("position")))
    return parse(
        {
            "prompt": data.get("prompt", ""),
            "models": slugs,
            "mode": parent.mode,
            "system_prompt": parent.system_prompt,
            "max_tokens": parent.max_tokens,
            "temperature": parent.temperature,
        },
        user,
    )


def _check_can_follow_up(parent: Comparison) -> None:
    if parent.follow_ups.exists():
        raise Conflict(f"This turn already has a follow-up; follow up on the latest turn ({parent.thread()[-1].id}).")
    if parent.responses.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists():
        raise SubmissionError("Some answers are still coming: wait for the answers to finish or stop them.")


def create(owner, submission: Submission, parent: Comparison | None = None) -> Comparison:
    """The comparison and its responses in one transaction; tasks are sent after commit.

    With a `parent`, the comparison follows up on it: it must be the latest turn of its
    thread (else Conflict) with every answer finished (else SubmissionError), and each new
    column continues the parent's column of the same model and mode.
    """
    pairs = submission.pairs()
    if parent is not None:
        _check_can_follow_up(parent)  # before the limits, so the reason given is the real one
    dispatch.check_available()
    with transaction.atomic():
        previous = {}
        if parent is not None:
            # The lock makes two follow-ups posted at once on the same turn queue up: the second sees the first.
            parent = Comparison.objects.select_for_update().get(id=parent.id)
            _check_can_follow_up(parent)
            previous = {(r.model_id, r.mode): r for r in parent.responses.all()}
        limits.check(owner, new_responses=len(pairs))
        comparison = Comparison.objects.create(
            owner=owner,
            prompt=submission.prompt,
            system_prompt=submission.system_prompt,
            mode=submission.mode,
            max_tokens=submission.max_tokens,
            temperature=submission.temperature,
            parent=parent,
            blind=submission.blind,
        )
        responses = Response.objects.bulk_create(
            Response(comparison=comparison, model=model, mode=mode, position=position,
                     previous=previous.get((model.id, mode)))
            for position, (model, mode) in enumerate(pairs)
        )
        transaction.on_commit(lambda: dispatch.enqueue(responses))
    return comparison
