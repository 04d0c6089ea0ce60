"""A Comparison is one prompt; each of its Responses is one model in one mode.

A follow-up is a Comparison whose `parent` is the turn before it, with the same columns;
each of its Responses points at the same column's Response of that turn (`previous`), so a
column's conversation is its own answers only.
"""

import secrets
import uuid

from django.conf import settings
from django.db import models

from council.catalog.models import LanguageModel


class Mode(models.TextChoices):
    FAST = "fast", "Fast"
    THINKING = "thinking", "Thinking"
    BOTH = "both", "Both, side by side"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Generating"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL = {Status.DONE, Status.FAILED, Status.CANCELLED}


class FinishReason(models.TextChoices):
    STOP = "stop", "Stopped by the model"
    LENGTH = "length", "Reached the token limit"
    CANCELLED = "cancelled", "Stopped by the user"
    ERROR = "error", "Failed"


class Role(models.TextChoices):
    ANSWER = "answer", "Answer"
    REVIEW = "review", "Review"
    SYNTHESIS = "synthesis", "Synthesis"


class Comparison(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.TextField()
    system_prompt = models.TextField(blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set while the comparison is shared read-only at /s/<share_token>/; None when not shared.
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # The turn this one follows up on; None for the first turn of a thread.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="follow_ups")
    # The council's synthesis asked for with this turn: {"model": slug, "mode": ..., "review": bool}; None if none.
    synthesis = models.JSONField(null=True, blank=True)
    # A turn of an arena battle: the models' names stay hidden, so no ordinary route
    # (page, API, stream, share, export, history) reaches it; council.arena serves it.
    blind = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.prompt[:60]

    @property
    def group_name(self) -> str:
        return f"comparison.{self.id}"

    def ancestors(self) -> list["Comparison"]:
        """The turns before this one, from the first (one query per turn)."""
        earlier = []
        turn = self
        while turn.parent_id is not None:
            turn = Comparison.objects.get(id=turn.parent_id)
            earlier.append(turn)
        return earlier[::-1]

    def thread(self) -> list["Comparison"]:
        """Every turn of this comparison's thread, from the first to the latest (one query per turn)."""
        later = []
        turn = self
        while (turn := Comparison.objects.filter(parent=turn).order_by("created_at").first()) is not None:
            later.append(turn)
        return [*self.ancestors(), self, *later]

    def share(self) -> str:
        """Share read-only under a new unguessable token (a revoked link stays dead)."""
        if not self.share_token:
            self.share_token = secrets.token_urlsafe(24)
            self.save(update_fields=["share_token"])
        return self.share_token

    def unshare(self) -> None:
        self.share_token = None
        self.save(update_fields=["share_token"])


class Response(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="responses")
    model = models.ForeignKey(LanguageModel, on_delete=models.PROTECT, related_name="responses")
    mode = models.CharField(max_length=10, choices=[(Mode.FAST, "Fast"), (Mode.THINKING, "Thinking")])
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    text = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # The seq of the last delta included in text/reasoning: a client that has read the
    # row skips live deltas up to it.
    seq = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written every few seconds by the worker running the response; a running row whose
    # heartbeat stops is failed by the sweeper (council.comparisons.sweeper).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The same column's response in the turn before (follow-ups only): this column's own history.
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # How many earlier turns the runner left out of the prompt to fit the model's context.
    truncated_turns = models.PositiveSmallIntegerField(default=0)
    # Why the answer ended (null while queued or running).
    finish_reason = models.CharField(max_length=10, choices=FinishReason.choices, null=True, blank=True)
    # FAST only: the answer scored against the same model's THINKING weights (null until measured).
    quality = models.JSONField(null=True, blank=True)
    # An answer to the prompt, a peer review of the other answers, or the council's synthesis.
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ANSWER)

    class Meta:
        ordering = ["comparison", "position"]

    def __str__(self):
        return f"{self.model.slug} ({self.mode})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def group_name(self) -> str:
        return f"comparison.{self.comparison_id}"

    def ahead_in_queue(self) -> int:
        """How many older responses wait on this one's model queue (those of every user)."""
        return Response.objects.filter(
            status=Status.QUEUED, model__queue=self.model.queue, queued_at__lt=self.queued_at
        ).count()

    def reasoning_tokens(self) -> int | None:
        """The engine's count of reasoning tokens where it reports one."""
        return self.metrics.get("reasoning_tokens")
