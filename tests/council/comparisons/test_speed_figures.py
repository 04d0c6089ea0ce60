"""FAST against THINKING only under the same conditions; the bench's arithmetic of streams side by side."""

from council.comparisons.speed import fast_vs_thinking
from council.lib import rates


def condition(threads, streams, tokens, rate):
    return {"threads": threads, "streams": streams, "tokens": tokens, "tokens_per_s": rate}


def test_the_ratio_is_taken_under_a_condition_both_decoded_in():
    """FAST ran beside THINKING on one thread; THINKING then finished alone on two."""
    fast = {"decode_tokens_per_s": 60.0, "threads": 1, "concurrent_streams": 2,
            "decode_by_condition": [condition(1, 2, 159, 60.0)]}
    thinking = {"decode_tokens_per_s": 14.0, "threads": 2, "concurrent_streams": 2,
                "decode_by_condition": [condition(1, 2, 40, 10.0), condition(2, 1, 119, 16.0)]}
    assert fast_vs_thinking(fast, thinking) == {"ratio": 6.0, "condition": "1 thread beside 1 other answer"}


def test_figures_from_different_conditions_are_said_not_to_be_comparable():
    fast = {"decode_tokens_per_s": 120.0, "threads": 2, "concurrent_streams": 1,
            "decode_by_condition": [condition(2, 1, 159, 120.0)]}
    thinking = {"decode_tokens_per_s": 9.0, "threads": 1, "concurrent_streams": 4,
                "decode_by_condition": [condition(1, 4, 159, 9.0)]}
    pair = fast_vs_thinking(fast, thinking)
    assert pair["ratio"] is None
    assert pair["why"] == "FAST decoded on 2 threads, alone, THINKING on 1 thread beside 3 other answers"


def test_a_condition_with_too_few_tokens_gives_no_ratio():
    fast = {"decode_tokens_per_s": 60.0, "decode_by_condition": [condition(1, 2, 3, 60.0)]}
    thinking = {"decode_tokens_per_s": 10.0, "decode_by_condition": [condition(1, 2, 150, 10.0)]}
    assert fast_vs_thinking(fast, thinking)["ratio"] is None


def test_engines_without_per_condition_rates_compare_when_threads_and_streams_match():
    fast = {"decode_tokens_per_s": 80.0, "threads": None, "concurrent_streams": None}
    thinking = {"decode_tokens_per_s": 20.0, "threads": None, "concurrent_streams": None}
    assert fast_vs_thinking(fast, thinking)["ratio"] == 4.0
    assert fast_vs_thinking({"decode_tokens_per_s": None}, thinking) is None


def test_rates_together_count_only_the_interval_in_which_every_stream_decodes():
    # A: 10 tok/s from t=0 to t=10; B: 5 tok/s from t=2 to t=4, then it ends.
    a = [(float(t), 10.0 * t) for t in range(11)]
    b = [(2.0, 0.0), (3.0, 5.0), (4.0, 10.0)]
    assert rates.together_interval([a, b]) == (2.0, 4.0)
    assert rates.rates_together([a, b]) == [10.0, 5.0]
    assert rates.shares([10.0, 5.0], [20.0, 5.0]) == [0.5, 1.0]
    assert rates.aggregate_rate([a, b]) == (100.0 + 10.0) / 10.0


def test_streams_that_never_overlap_have_no_rate_together():
    a = [(0.0, 1.0), (1.0, 10.0)]
    b = [(2.0, 1.0), (3.0, 10.0)]
    assert rates.rates_together([a, b]) == [None, None]


def test_percentiles_are_nearest_rank():
    assert rates.percentiles([5.0, 1.0, 3.0]) == (3.0, 5.0)
    assert rates.percentiles([]) == (None, None)
