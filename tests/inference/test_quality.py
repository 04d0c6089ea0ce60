"""The quality check's arithmetic on known logits, and one real scoring of a SmolLM2 answer."""

import numpy as np
import pytest

from inference import quality
from inference.quality import Quality, common_vocab, first_divergence, kl_per_position, log_softmax, score


def peaked(ids, vocab=8, height=5.0):
    """Logits whose argmax in row i is ids[i].  # -> [T, vocab]"""
    logits = np.zeros((len(ids), vocab), dtype=np.float32)
    logits[np.arange(len(ids)), ids] = height
    return logits


def test_an_answer_whose_every_token_is_the_top_1_of_both_models_scores_1():
    ids = [1, 4, 2, 7, 0]
    result = score(peaked(ids), peaked(ids, height=3.0), ids)
    assert result.top1_agreement == 1.0
    assert result.first_divergence is None
    assert result.tokens == 5


def test_identical_distributions_give_a_kl_of_0():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 50)).astype(np.float32)
    ids = rng.integers(0, 50, size=6).tolist()
    result = score(logits, logits.copy(), ids)
    assert result.mean_kl == 0.0
    assert result.top1_agreement == 1.0


def test_the_first_divergence_is_the_first_position_where_the_argmaxes_differ():
    reference = [1, 2, 3, 4, 5]
    candidate = [1, 2, 6, 4, 7]
    result = score(peaked(reference), peaked(candidate), candidate)
    assert result.first_divergence == 2
    assert result.top1_agreement == 0.6
    assert first_divergence(np.array(reference), np.array(candidate)) == 2


def test_kl_matches_its_definition_and_is_not_symmetric():
    p = np.log(np.array([[0.7, 0.2, 0.1]]))
    q = np.log(np.array([[0.4, 0.4, 0.2]]))
    expected = 0.7 * np.log(0.7 / 0.4) + 0.2 * np.log(0.2 / 0.4) + 0.1 * np.log(0.1 / 0.2)
    assert kl_per_position(p, q)[0] == pytest.approx(expected)
    assert kl_per_position(q, p)[0] != pytest.approx(expected)


def test_the_mean_logprob_is_that_of_the_answers_tokens_under_the_reference():
    reference = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    result = score(reference, reference, [0, 2])
    assert result.mean_logprob == pytest.approx((np.log(0.5) + np.log(0.8)) / 2, abs=1e-4)


def test_logits_of_different_vocabulary_lengths_are_cut_to_the_shared_one():
    """A transformers output layer padded past the GGUF's tokens: the padding is dropped, not -inf-padded."""
    ids = [3, 1]
    gguf = peaked(ids, vocab=8)
    padded = np.concatenate([peaked(ids, vocab=8), np.full((2, 4), 9.0, dtype=np.float32)], axis=1)  # [2, 12]
    a, b = common_vocab(padded, gguf)
    assert a.shape == b.shape == (2, 8)
    result = score(padded, gguf, ids)
    assert result.top1_agreement == 1.0 and result.mean_kl == pytest.approx(0.0, abs=1e-6)


def test_rows_are_scored_in_blocks_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(1)
    ref, cand = rng.normal(size=(2, 150, 40))
    ids = rng.integers(0, 40, size=150).tolist()
    whole = score(ref, cand, ids)
    monkeypatch.setattr(quality, "BLOCK_ROWS", 7)
    assert score(ref, cand, ids) == whole


def test_log_softmax_rows_sum_to_one():
    rows = np.exp(log_softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])))
    assert rows.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_an_empty_answer_scores_no_tokens():
    empty = np.zeros((0, 8), dtype=np.float32)
    assert score(empty, empty, []) == Quality("thinking", None, None, None, None, 0)


def test_mismatched_rows_are_an_error():
    with pytest.raises(ValueError, match="3 answer tokens"):
        score(peaked([1, 2]), peaked([1, 2]), [1, 2, 3])


class FakeScorer:
    """Characters as tokens: enough to check how the prompt and answer are cut apart."""

    n_ctx = 64

    def __init__(self, logits_fn, chat=None):
        from inference.text import ChatFormat

        self.chat = chat or ChatFormat("{% for m in messages %}<{{ m.content }}>{% endfor %}")
        self.logits_fn = logits_fn
        self.calls = []

    def tokenize_prompt(self, prompt):
        return [ord(c) % 97 for c in prompt]

    def tokenize_text(self, text):
        return self.tokenize_prompt(text)

    def prefill_logits(self, ids, start):
        self.calls.append((list(ids), start))
        return self.logits_fn(ids[start:])


def test_measure_feeds_both_engines_the_candidates_ids_and_scores_only_the_answer():
    from inference.types import Message

    fast = FakeScorer(lambda ids: peaked(ids, vocab=97))
    thinking = FakeScorer(lambda ids: peaked(ids, vocab=97))
    result = quality.measure(fast, thinking, [Message("user", "hi")], "abc")
    assert result.tokens == 3 and result.top1_agreement == 1.0
    assert fast.calls == thinking.calls == [(fast.tokenize_prompt("<hi>abc"), 4)]


def test_a_model_served_by_a_remote_server_cannot_be_measured():
    from inference.types import ModelSpec

    assert not quality.can_measure(ModelSpec(slug="r", source="http://h/v1", backend="openai"))
    assert quality.can_measure(ModelSpec(slug="s", source="smollm2-135m-instruct", gguf_file="/x/m.Q4_1.gguf"), "cpu")


@pytest.mark.slow
def test_a_real_smollm2_answer_scores_close_to_its_thinking_weights():
    """FAST (llama.cpp, Q4_1) answers; THINKING (torch fp32 on the same 4-bit weights) scores it."""
    from inference import bundled
    from inference.engines import llamacpp, torch as torch_engine
    from inference.plan import resolve
    from inference.types import GenerationRequest, Message, Mode

    spec = bundled.get("smollm2-135m-instruct").spec()
    fast = llamacpp.load(spec, resolve(spec, Mode.FAST, "cpu"))
    thinking = torch_engine.load(spec, resolve(spec, Mode.THINKING, "cpu"))
    messages = (Message("user", "What is the capital of France?"),)
    request = GenerationRequest("q", messages, max_tokens=24, temperature=0.0)
    answer = "".join(e.text for e in fast.stream(request) if e.type == "delta")
    result = quality.measure(fast, thinking, messages, answer)
    assert result.tokens >= 5
    assert result.top1_agreement >= 0.8  # measured 0.96 on held-out text
    assert 0 <= result.mean_kl < 0.5
    assert result.mean_logprob < 0
    # The same weights, the same engine: a perfect score.
    same = quality.measure(fast, fast, messages, answer)
    assert same.top1_agreement == 1.0 and same.mean_kl == pytest.approx(0.0, abs=1e-6)
