"""Pure decode-step functions: sampling, n-gram drafting, greedy-exact draft verification.

Each is small and tested alone. The list versions serve llama.cpp (ids in Python lists);
the tensor versions serve the torch engine and import torch only when called.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence


def ngram_draft(history: Sequence[int], k: int, max_ngram: int = 3, min_ngram: int = 1) -> list[int]:
    """Prompt lookup: up to `k` tokens that followed the latest earlier match of the tail.

    Tries the longest tail n-gram first (`max_ngram` down to `min_ngram`) and takes the
    most recent earlier occurrence, whose continuation is the draft. No match: [].
    """
    n_hist = len(history)
    if k <= 0 or n_hist < 2:
        return []
    for n in range(min(max_ngram, n_hist - 1), min_ngram - 1, -1):
        tail = list(history[n_hist - n :])
        # Latest start i < n_hist - n with history[i:i+n] == tail.
        for i in range(n_hist - n - 1, -1, -1):
            if history[i] == tail[0] and list(history[i : i + n]) == tail:
                draft = list(history[i + n : i + n + k])
                if draft:
                    return draft
    return []


def accept_greedy(draft: Sequence[int], targets: Sequence[int]) -> int:
    """How many drafted tokens greedy decoding would have produced itself.

    `targets[i]` is the model's argmax after the verify batch's position i, where the
    batch is [last accepted token, *draft]; so draft[i] stands iff it equals targets[i]
    and every draft token before it stood. `targets[result]` is the next token either way.
    """
    accepted = 0
    for drafted, target in zip(draft, targets):
        if drafted != target:
            break
        accepted += 1
    return accepted


def prompt_lookup(
    history: list[int],
    first: int,
    *,
    k: int,
    room: Callable[[], int],
    verify: Callable[[list[int]], list[int]],
    rollback: Callable[[int], None],
    stats,
) -> Iterator[int]:
    """Greedy decoding with prompt-lookup drafts, one verify batch per step: the one loop both local engines run.

    `history` is the prompt's ids (it grows with each token given out), `first` the
    model's argmax after the prompt. `room()` is how many tokens may still be drafted
    (KV slots or token budget left; below 0 ends the loop). `verify(batch)` decodes
    batch = [next token, *draft] after the cached tokens and returns the model's argmax
    after each of its positions; `rollback(n)` drops the last n cached tokens (the
    rejected drafts). `stats` (DecodeStats) counts drafted and accepted tokens.
    The output equals plain greedy decoding: a draft token stands only while it is the
    model's own argmax at its position.
    """
    next_token = first
    while True:
        yield next_token
        history.append(next_token)
        space = room()
        if space < 0:
            return
        draft = ngram_draft(history, k=min(k, space))
        targets = verify([next_token, *draft])  # targets[i]: the model's token after batch[i]
        accepted = accept_greedy(draft, targets)
        if draft:
            stats.drafted += len(draft)
            stats.accepted += accepted
            if accepted < len(draft):
                rollback(len(draft) - accepted)
        for token in draft[:accepted]:
            yield token
            history.append(token)
        next_token = targets[accepted]  # the bonus token, decoded in the next batch


def greedy(logits):
    """Argmax token per row.  # logits: [B, V] -> [B]"""
    return logits.argmax(dim=-1)


def sample(logits, temperature: float, top_p: float = 1.0, generator=None):
    """One token per row: greedy at temperature 0, else temperature + nucleus sampling.

    # logits: [B, V] -> [B]
    """
    import torch

    if temperature <= 0:
        return greedy(logits)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # [B, V]
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)  # [B, V]
        cumulative = sorted_probs.cumsum(dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (always the first token).
        sorted_probs[(cumulative - sorted_probs) >= top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def verify_greedy(draft, logits) -> tuple[int, int]:
    """Greedy-exact verification of a draft against the model's logits.

    # draft: [K] token ids; logits: [K+1, V], row i = the model after [last, *draft][i]
    Returns (accepted count, next token): the next token is the model's own argmax after
    the last accepted position, so the output equals plain greedy decoding.
    """
    targets = logits.argmax(dim=-1).tolist()  # [K+1]
    accepted = accept_greedy(draft.tolist() if hasattr(draft, "tolist") else list(draft), targets)
    return accepted, targets[accepted]
