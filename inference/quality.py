"""FAST's answer scored under THINKING's weights, token by token (teacher forcing).

The answer's tokens are fed, after the same prompt, through both engines in one prefill
pass each; at every answer position the two next-token distributions are compared:

- `top1_agreement`: share of positions where FAST's argmax equals THINKING's argmax
  (argmax against argmax, so a sampled answer measures quantization, not sampling);
- `mean_kl`: mean per-position KL(THINKING ‖ FAST), in nats;
- `mean_logprob`: mean log-probability of FAST's own tokens under THINKING, in nats;
- `first_divergence`: the first answer position (0-based) where the argmaxes differ,
  None when they never do;
- `tokens`: the number of answer positions scored.

The arithmetic is small pure functions on numpy arrays ([T, V] logits), tested on known
logits; `measure()` runs them on two engines that implement `tokenize_prompt`,
`tokenize_text` and `prefill_logits` (the torch and llama.cpp engines).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, Sequence

from inference.text import ChatFormat
from inference.types import Message

BLOCK_ROWS = 64  # rows scored at a time: a [64, 262144] float64 block is 134 MB (gemma's vocabulary)


@dataclass(frozen=True)
class Quality:
    """The quality of one answer measured against a reference (DESIGN.md's `quality` object)."""

    reference: str
    top1_agreement: float | None
    mean_kl: float | None
    mean_logprob: float | None
    first_divergence: int | None
    tokens: int

    def as_dict(self) -> dict:
        return asdict(self)


class Scorer(Protocol):
    """What an engine offers for teacher forcing (the torch and llama.cpp engines)."""

    n_ctx: int
    chat: "ChatFormat"

    def tokenize_prompt(self, prompt: str) -> list[int]: ...

    def tokenize_text(self, text: str) -> list[int]: ...

    def prefill_logits(self, ids: list[int], start: int):
        """Logits predicting ids[start:], from one pass over ids.  # ids: [T] -> [T - start, V] float32"""
        ...


def common_vocab(a, b):
    """Both logit arrays cut to the vocabulary they share.  # a: [T, Va], b: [T, Vb] -> [T, V], [T, V]

    A GGUF file and a transformers checkpoint of one model can disagree on the vocabulary's
    length: an output layer padded to a multiple of 64 or 128, or added tokens one side
    lacks. Ids past the shorter one are never produced by the other model, so both are cut
    to min(Va, Vb) before the softmax; padding with -inf instead would make KL infinite.
    """
    n = min(a.shape[-1], b.shape[-1])
    return a[..., :n], b[..., :n]


def log_softmax(logits):
    """Log-probabilities per row, in float64.  # logits: [T, V] -> [T, V]"""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def kl_per_position(reference_logp, candidate_logp):
    """KL(reference ‖ candidate) per row, in nats.  # [T, V], [T, V] -> [T]"""
    import numpy as np

    p = np.exp(reference_logp)
    return np.maximum((p * (reference_logp - candidate_logp)).sum(axis=-1), 0.0)


def token_logprobs(logp, ids: Sequence[int]):
    """Log-probability of ids[i] in row i.  # logp: [T, V], ids: [T] -> [T]"""
    import numpy as np

    return logp[np.arange(len(ids)), np.asarray(ids, dtype=np.int64)]


def first_divergence(reference_top1, candidate_top1) -> int | None:
    """The first index where the two argmax sequences differ, None if they never do.  # [T], [T]"""
    import numpy as np

    differ = np.flatnonzero(np.asarray(reference_top1) != np.asarray(candidate_top1))
    return int(differ[0]) if differ.size else None


def score(reference_logits, candidate_logits, answer_ids: Sequence[int], reference: str = "thinking") -> Quality:
    """The quality of `answer_ids` from two models' logits at the answer's positions.

    # reference_logits: [T, Vr], candidate_logits: [T, Vc], answer_ids: [T]; row i predicts answer_ids[i]
    """
    import numpy as np

    n = len(answer_ids)
    if reference_logits.shape[0] != n or candidate_logits.shape[0] != n:
        raise ValueError(f"{n} answer tokens but {reference_logits.shape[0]} and {candidate_logits.shape[0]} rows of logits")
    if n == 0:
        return Quality(reference, None, None, None, None, 0)
    reference_logits, candidate_logits = common_vocab(reference_logits, candidate_logits)
    agree = kl = logprob = 0.0
    first = None
    for lo in range(0, n, BLOCK_ROWS):
        ref = log_softmax(reference_logits[lo : lo + BLOCK_ROWS])  # [B, V]
        cand = log_softmax(candidate_logits[lo : lo + BLOCK_ROWS])  # [B, V]
        ref_top1, cand_top1 = ref.argmax(axis=-1), cand.argmax(axis=-1)  # [B], [B]
        agree += float((ref_top1 == cand_top1).sum())
        kl += float(kl_per_position(ref, cand).sum())
        ids = np.minimum(np.asarray(answer_ids[lo : lo + BLOCK_ROWS]), ref.shape[-1] - 1)
        logprob += float(token_logprobs(ref, ids).sum())
        if first is None:
            block_first = first_divergence(ref_top1, cand_top1)
            first = None if block_first is None else lo + block_first
    return Quality(
        reference=reference,
        top1_agreement=round(agree / n, 4),
        mean_kl=round(kl / n, 5),
        mean_logprob=round(logprob / n, 4),
        first_divergence=first,
        tokens=n,
    )


def teacher_ids(engine: Scorer, prompt: str, answer: str) -> tuple[list[int], int]:
    """(prompt + answer ids, index where the answer starts), in `engine`'s tokenizer.

    The two are tokenized together where that keeps the prompt's ids as they are (so the
    answer's first token is the one the model produced after the prompt), else apart.
    The total is cut to the engine's context.
    """
    prompt_ids = engine.tokenize_prompt(prompt)
    joined = engine.tokenize_prompt(prompt + answer)
    if joined[: len(prompt_ids)] == prompt_ids:
        ids = joined
    else:
        ids = prompt_ids + engine.tokenize_text(answer)
    return ids[: engine.n_ctx], len(prompt_ids)


def measure(candidate: Scorer, reference: Scorer, messages: Sequence[Message], answer: str, *,
            reference_name: str = "thinking") -> Quality:
    """Score `answer` (the candidate's, to `messages`) under the reference's weights.

    Both see the candidate's ids: the prompt as the candidate rendered it, then the answer.
    """
    chat = candidate.chat
    prompt = chat.render(messages)
    if chat.strip_leading_space and answer and not answer[0].isspace():
        answer = " " + answer  # the transcript format's "Assistant:" was followed by a space the stream dropped
    ids, start = teacher_ids(candidate, prompt, answer)
    answer_ids = ids[start:]
    if not answer_ids:
        return Quality(reference_name, None, None, None, None, 0)
    return score(reference.prefill_logits(ids, start), candidate.prefill_logits(ids, start), answer_ids, reference_name)


SCORING_ENGINES = ("torch", "llamacpp")  # engines with prefill_logits


def can_measure(spec, device: str | None = None) -> bool:
    """Whether both of `spec`'s engines on this device give logits to compare (local ones do)."""
    from inference.engines.base import EngineError
    from inference.plan import resolve
    from inference.types import Mode

    try:
        return all(resolve(spec, mode, device).engine in SCORING_ENGINES for mode in (Mode.FAST, Mode.THINKING))
    except EngineError:
        return False


def not_measured(reason: str, reference: str = "thinking") -> dict:
    """The `quality` object of an answer that could not be scored: null figures and why."""
    return {**Quality(reference, None, None, None, None, 0).as_dict(), "error": reason}
