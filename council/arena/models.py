"""Blind battles between two entrants, one vote each, and open votes on ordinary comparisons.

An entrant is a (model, mode) pair: the leaderboard asks whether FAST loses to THINKING in
people's eyes. A Battle's turns are blind Comparisons (its first turn, then follow-ups
through `parent`); in each turn the Response at position 0 is "A" and at position 1 "B".
"""

import uuid

from django.conf import settings
from django.db import models

from council.catalog.models import LanguageModel
from council.comparisons.models import Comparison, Response

LABELS = ("A", "B")
ENTRANT_MODES = [("fast", "Fast"), ("thinking", "Thinking")]


class BattleMode(models.TextChoices):
    FAST = "fast", "Fast against fast"
    THINKING = "thinking", "Thinking against thinking"
    ANY = "any", "Any mode"


class Winner(models.TextChoices):
    A = "A", "A is better"
    B = "B", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both are bad"


class Entrant(models.Model):
    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="arena_entrants")
    mode = models.CharField(max_length=10, choices=ENTRANT_MODES)
    excluded = models.BooleanField(
        default=False, help_text="Left out of new battles, and its votes out of the leaderboard."
    )

    class Meta:
        ordering = ["model__order", "model__name", "mode"]
        constraints = [models.UniqueConstraint(fields=["model", "mode"], name="arena_entrant_unique")]

    def __str__(self):
        return f"{self.model.name} ({self.get_mode_display()})"


class Battle(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="battles")
    mode = models.CharField(max_length=10, choices=BattleMode.choices)
    # The first turn; follow-ups are its Comparison's follow-ups.
    comparison = models.OneToOneField(Comparison, on_delete=models.CASCADE, related_name="battle")
    entrant_a = models.ForeignKey(Entrant, on_delete=models.PROTECT, related_name="battles_as_a")
    entrant_b = models.ForeignKey(Entrant, on_delete=models.PROTECT, related_name="battles_as_b")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.comparison.prompt[:60]

    @property
    def entrants(self) -> dict[str, Entrant]:
        return {"A": self.entrant_a, "B": self.entrant_b}

    def turns(self) -> list[Comparison]:
        return self.comparison.thread()

    def voted(self) -> bool:
        return Vote.objects.filter(battle=self).exists()


class Vote(models.Model):
    battle = models.OneToOneField(Battle, on_delete=models.CASCADE, related_name="vote")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="arena_votes")
    winner = models.CharField(max_length=10, choices=Winner.choices)
    # An answer named a model (identity words, listed): the vote is kept, never counted.
    names_model = models.BooleanField(default=False)
    identity_words = models.JSONField(default=list, blank=True)
    discarded = models.BooleanField(default=False, help_text="Set by staff: left out of the leaderboard.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_winner_display()} ({self.battle_id})"

    @property
    def counted(self) -> bool:
        return not self.names_model and not self.discarded

    def score(self) -> float:
        """A's share of the win: 1, 0, or a half for a tie (both bad is a tie)."""
        return {Winner.A: 1.0, Winner.B: 0.0}.get(self.winner, 0.5)


class OpenVote(models.Model):
    """The column a person prefers in one turn of an ordinary comparison: names seen, not blind."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="open_votes")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="open_votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="open_votes")
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["comparison", "voter"], name="arena_open_vote_once")]

    def __str__(self):
        return f"{self.voter} prefers {self.response}"
