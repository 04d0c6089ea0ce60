"""The Bradley–Terry fit on synthetic votes drawn from known strengths (fixed seeds), and the draw."""

import random
from collections import Counter

import numpy as np
import pytest

from council.arena import ratings
from council.arena.battles import draw_pair

TRUTH = np.array([1200.0, 1100.0, 1030.0, 970.0, 900.0, 800.0])  # mean 1000, as the fit reports


def synthetic_votes(rng, votes, truth=TRUTH):
    """Random pairs, each won with the Bradley–Terry probability of the true ratings."""
    n = len(truth)
    first = rng.integers(0, n, votes)
    second = (first + rng.integers(1, n, votes)) % n
    p_first = 1 / (1 + 10 ** ((truth[second] - truth[first]) / 400))
    return first, second, (rng.random(votes) < p_first).astype(float)


def test_the_fit_recovers_the_true_order_and_ratings_from_enough_votes():
    first, second, score = synthetic_votes(np.random.default_rng(1), 4000)
    fitted = ratings.fit_ratings(len(TRUTH), first, second, score)
    assert list(np.argsort(-fitted)) == list(range(len(TRUTH)))
    assert fitted.mean() == pytest.approx(1000)
    assert np.abs(fitted - TRUTH).max() < 30


def test_the_95_percent_intervals_cover_the_true_ratings_in_at_least_90_percent_of_entrants():
    """40 independent draws of 1500 votes × 6 entrants = 240 intervals, 200 resamples each."""
    rng = np.random.default_rng(2026)
    covered = total = 0
    for draw in range(40):
        first, second, score = synthetic_votes(rng, 1500)
        for row in ratings.standings(list(range(len(TRUTH))), first, second, score, resamples=200, seed=draw):
            total += 1
            covered += row.ci_low <= TRUTH[row.entrant] <= row.ci_high
    assert total == 240
    assert covered / total >= 0.90, f"{covered}/{total}"


def test_standings_come_best_first_with_ranks_from_non_overlapping_intervals():
    first, second, score = synthetic_votes(np.random.default_rng(3), 3000)
    rows = ratings.standings(list("abcdef"), first, second, score, resamples=200)
    assert [r.entrant for r in rows] == list("abcdef")
    assert rows[0].rank == 1
    for row in rows:
        assert row.ci_low < row.rating < row.ci_high
        assert row.rank == 1 + sum(other.ci_low > row.ci_high for other in rows)


def test_a_tie_counts_half_a_win_each_way():
    # a beats b twice, b beats a twice, two ties: as even as it gets.
    rows = ratings.standings(["a", "b"], [0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0], [1, 1, 0.5, 0.5, 0, 0], resamples=200)
    assert [r.rating for r in rows] == pytest.approx([1000, 1000], abs=1e-3)
    # Four ties and one win: 3 wins to 2, odds 3 : 2, so 70 points apart around the mean.
    edge = {r.entrant: r.rating for r in ratings.standings(["a", "b"], [0] * 5, [1] * 5, [0.5] * 4 + [1], resamples=200)}
    assert edge["a"] == pytest.approx(1000 + 400 * np.log10(1.5) / 2, abs=1)


def test_an_entrant_that_won_every_vote_gets_a_finite_rating():
    rows = ratings.standings(["a", "b", "c"], [0, 0, 0, 0, 0, 1, 1], [1, 2, 1, 2, 1, 2, 2], [1] * 7, resamples=200)
    assert rows[0].entrant == "a"
    assert all(np.isfinite([r.rating, r.ci_low, r.ci_high]).all() for r in rows)


def test_an_entrant_is_ranked_only_from_five_counted_battles():
    rows = ratings.standings(["a", "b", "c"], [0, 0, 0, 0, 0, 0, 2], [1, 1, 1, 1, 1, 1, 0], [1, 0, 1, 0.5, 1, 0, 0],
                             resamples=200)
    by_name = {r.entrant: r for r in rows}
    assert by_name["a"].battles == 7 and by_name["a"].rank is not None
    assert by_name["b"].battles == 6 and by_name["b"].rank is not None
    assert by_name["c"].battles == 1 and by_name["c"].rank is None


def test_ranks_are_taken_again_among_the_rows_kept_by_a_filter():
    rows = [ratings.Standing("x", 1300, 1250, 1350, 50, None), ratings.Standing("y", 1000, 950, 1050, 50, None),
            ratings.Standing("z", 990, 940, 1040, 50, None)]
    assert [r.rank for r in ratings.ranked(rows)] == [1, 2, 2]
    assert [r.rank for r in ratings.ranked(rows[1:])] == [1, 1]


def test_no_votes_give_no_standings():
    assert ratings.standings(["a", "b"], [], [], []) == []


def test_the_draw_favours_entrants_with_few_battles_and_never_pairs_one_with_itself():
    rng = random.Random(5)
    seen = Counter()
    order = Counter()
    for _ in range(4000):
        a, b = draw_pair([0, 0, 100, 100], rng)
        assert a != b
        seen.update([a, b])
        order[a < b] += 1
    assert seen[0] > 2 * seen[2] and seen[1] > 2 * seen[3]
    assert 0.45 < order[True] / 4000 < 0.55  # A and B in random order
