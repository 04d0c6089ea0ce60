"""Starting a battle, following it up, stopping it and voting on it: shared by the API and the pages."""

from __future__ import annotations

import random
import re

from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from council.arena.models import LABELS, Battle, BattleMode, Entrant, Vote, Winner
from council.catalog.models import LanguageModel
from council.comparisons import actions, submission
from council.comparisons.actions import Conflict
from council.comparisons.errors import SubmissionError
from council.comparisons.models import TERMINAL, Comparison, Mode, Response

# Words by which an answer gives away who wrote it (after FastChat's list), besides the
# catalog's own model names. A battle whose answers use one is kept but never counted.
IDENTITY_WORDS = (
    "openai", "chatgpt", "gpt-3", "gpt-4", "anthropic", "claude", "google", "gemini", "deepmind",
    "meta ai", "llama", "mistral", "qwen", "alibaba", "deepseek", "microsoft", "phi-3",
    "hugging face", "huggingface", "smollm", "gemma", "cohere", "vicuna", "lmsys",
)
_system_random = random.SystemRandom()


def eligible_entrants(mode: str) -> list[Entrant]:
    """The (model, mode) pairs a new battle may draw: enabled models, not excluded, in `mode`.

    Each carries `battles` (how many it has had). A pair never drawn before has no row yet:
    it comes back unsaved, and `start` saves the two it draws (nothing is written for a
    request that is then refused).
    """
    models = list(LanguageModel.objects.filter(enabled=True))
    modes = [Mode.FAST, Mode.THINKING] if mode == BattleMode.ANY else [mode]
    known = {
        (e.model_id, e.mode): e
        for e in Entrant.objects.filter(model__in=models, mode__in=modes).annotate(
            battles=Count("battles_as_a", distinct=True) + Count("battles_as_b", distinct=True))
    }
    pool = []
    for model in models:
        for entrant_mode in modes:
            entrant = known.get((model.id, entrant_mode)) or Entrant(model=model, mode=entrant_mode)
            entrant.model = model
            entrant.battles = getattr(entrant, "battles", 0)
            if not entrant.excluded:
                pool.append(entrant)
    return pool


def draw_pair(battles: list[int], rng: random.Random) -> tuple[int, int]:
    """Two distinct indexes, in the order they will be labelled A and B.

    A pair is drawn with a probability proportional to w_i · w_j, w = 1 / sqrt(1 + battles
    so far): entrants with few battles come up more often, so the intervals shrink evenly.
    """
    weight = [(1 + n) ** -0.5 for n in battles]
    pairs = [(i, j) for i in range(len(battles)) for j in range(i + 1, len(battles))]
    first, second = rng.choices(pairs, weights=[weight[i] * weight[j] for i, j in pairs])[0]
    return (first, second) if rng.random() < 0.5 else (second, first)


def _turn_mode(a: Entrant, b: Entrant) -> str:
    return a.mode if a.mode == b.mode else Mode.BOTH


def _submission(prompt: str, a: Entrant, b: Entrant) -> submission.Submission:
    return submission.Submission(
        prompt=prompt, models=[a.model, b.model], mode=_turn_mode(a, b),
        columns=((a.model, a.mode), (b.model, b.mode)), blind=True,
    )


def start(owner, data, rng: random.Random | None = None) -> Battle:
    """A new battle on `data["prompt"]`: two entrants drawn in `data["mode"]` (default any), streaming."""
    prompt = submission.parse_prompt(data)
    mode = data.get("mode") or BattleMode.ANY
    if mode not in BattleMode.values:
        raise SubmissionError(f"mode must be one of {', '.join(BattleMode.values)}.")
    pool = eligible_entrants(mode)
    if len(pool) < 2:
        raise SubmissionError(f"A battle needs two entrants and mode {mode!r} has {len(pool)}: "
                              "enable more models (or ask for mode 'any').")
    i, j = draw_pair([e.battles for e in pool], rng or _system_random)
    with transaction.atomic():
        a, b = (Entrant.objects.get_or_create(model=e.model, mode=e.mode)[0] for e in (pool[i], pool[j]))
        comparison = submission.create(owner, _submission(prompt, a, b))
        return Battle.objects.create(owner=owner, mode=mode, comparison=comparison, entrant_a=a, entrant_b=b)


def latest_turn(battle: Battle) -> Comparison:
    return battle.turns()[-1]


def follow_up(battle: Battle, data) -> Comparison:
    """A new blind turn after the latest, each column continuing its own conversation."""
    prompt = submission.parse_prompt(data)
    if battle.voted():
        raise Conflict("This battle has its vote; start a new battle to ask more.")
    return submission.create(battle.owner, _submission(prompt, battle.entrant_a, battle.entrant_b),
                             parent=latest_turn(battle))


def cancel(battle: Battle, label: str | None = None) -> None:
    """Stop both answers of the latest turn, or only the one labelled `label`."""
    turn = latest_turn(battle)
    if label is None:
        actions.cancel_comparison(turn)
        return
    if label not in LABELS:
        raise SubmissionError("label must be A or B.")
    for response in turn.responses.filter(position=LABELS.index(label)):
        actions.cancel_response(response)


def identity_words_in(battle: Battle) -> list[str]:
    """The identity words (and catalog model names) that any answer of the battle uses."""
    words = set(IDENTITY_WORDS)
    for slug, name in LanguageModel.objects.values_list("slug", "name"):
        for word in (slug.split("-")[0], name.split()[0] if name.split() else ""):
            word = word.lower()
            if len(word) >= 4:
                words |= {word, re.sub(r"\d+$", "", word)}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) +
                         r")(?![\w-])", re.IGNORECASE)
    texts = Response.objects.filter(comparison__in=battle.turns()).values_list("text", "reasoning")
    return sorted({m.group(1).lower() for text, reasoning in texts for m in pattern.finditer(f"{text}\n{reasoning}")})


def vote(battle: Battle, voter, data) -> Vote:
    """The battle's one vote, once every answer of its latest turn has ended; then the names show."""
    winner = data.get("winner") if isinstance(data, dict) else None
    if not isinstance(winner, str) or winner not in Winner.values:
        raise SubmissionError(f"winner must be one of {', '.join(Winner.values)}.")
    if battle.owner_id != voter.pk:
        raise Conflict("Only the person who started a battle votes on it.")
    with transaction.atomic():
        # The lock makes two votes posted at once queue up: the second sees the first.
        battle = Battle.objects.select_for_update().get(id=battle.id)
        if battle.voted():
            raise Conflict("This battle already has its vote.")
        if latest_turn(battle).responses.filter(~Q(status__in=TERMINAL)).exists():
            raise Conflict("Vote once both answers have ended (or stop them).")
        found = identity_words_in(battle)
        try:
            with transaction.atomic():
                return Vote.objects.create(battle=battle, voter=voter, winner=winner,
                                           names_model=bool(found), identity_words=found)
        except IntegrityError:
            raise Conflict("This battle already has its vote.") from None
