"""The pure decode-step functions: n-gram drafting and greedy-exact verification."""

from __future__ import annotations

import pytest

from inference.speculative import accept_greedy, ngram_draft, sample, verify_greedy


def test_it_drafts_what_followed_the_latest_earlier_match_of_the_tail():
    history = [1, 2, 3, 4, 9, 2, 3, 5, 6, 7, 2, 3]
    assert ngram_draft(history, k=2) == [5, 6]  # latest "2 3" is followed by 5 6


def test_it_prefers_a_longer_ngram_match():
    history = [7, 8, 1, 2, 3, 9, 8, 0, 4, 7, 8]
    # tail "7 8" matches at 0 (-> 1 2 3); tail "8" alone would match at 6 (-> 0 4).
    assert ngram_draft(history, k=3) == [1, 2, 3]


def test_it_drafts_nothing_without_a_match_or_budget():
    assert ngram_draft([1, 2, 3, 4], k=4) == []
    assert ngram_draft([1, 2, 1, 2], k=0) == []


def test_it_accepts_the_draft_prefix_that_equals_the_models_choices():
    assert accept_greedy([5, 6, 7], [5, 6, 9, 1]) == 2
    assert accept_greedy([5, 6, 7], [4, 6, 7, 1]) == 0
    assert accept_greedy([5, 6, 7], [5, 6, 7, 1]) == 3


def test_tensor_verification_returns_the_models_next_token():
    torch = pytest.importorskip("torch")
    logits = torch.full((4, 10), -1.0)
    for row, tok in enumerate([5, 6, 9, 1]):
        logits[row, tok] = 1.0
    assert verify_greedy(torch.tensor([5, 6, 7]), logits) == (2, 9)


def test_sampling_at_temperature_zero_is_greedy_and_top_p_keeps_the_nucleus():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[0.0, 5.0, 4.9, -3.0]])
    assert sample(logits, 0.0).tolist() == [1]
    gen = torch.Generator().manual_seed(0)
    draws = {sample(logits, 1.0, top_p=0.5, generator=gen).item() for _ in range(50)}
    assert draws <= {1, 2} and 1 in draws
