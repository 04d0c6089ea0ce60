"""Bradley–Terry ratings with bootstrap intervals, on the Elo scale. Django-free.

Each counted vote is (first, second, score): score 1 when `first` won, 0 when `second`
won, 0.5 for a tie (a "both bad" vote is a tie). The fit maximises the likelihood
P(i beats j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)) with scipy's L-BFGS; the ratings are
then shifted so that their mean is 1000. The 95 % interval of each rating is the 2.5th
to 97.5th percentile over bootstrap resamples of the votes (all replicates fitted in one
vectorised optimisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

ELO_PER_NAT = 400 / math.log(10)  # 400 points per factor of 10 in the odds
MEAN_RATING = 1000.0
BOOTSTRAP_RESAMPLES = 500
MIN_BATTLES_FOR_RANK = 5
# A weak ridge on the log-strengths (in nats): without it an entrant that won every one
# of its votes has no finite maximum, in the data or in a bootstrap replicate. With
# hundreds of votes its pull is far below the intervals' width.
RIDGE = 0.01
METHOD = (
    "Bradley–Terry by maximum likelihood (scipy L-BFGS, ridge 0.01), Elo scale: 400 points per "
    "factor of 10 in the odds, mean 1000; 95 % percentile intervals over {resamples} bootstrap "
    "resamples of the votes; a tie or 'both bad' counts half a win each way; rank = 1 + the number "
    "of entrants whose lower bound is above this one's upper bound, from {min_battles} counted battles on."
)


@dataclass(frozen=True)
class Standing:
    entrant: object
    rating: float
    ci_low: float
    ci_high: float
    battles: int
    rank: int | None  # None until the entrant has MIN_BATTLES_FOR_RANK counted battles


def _outcomes(first, second, score):
    """The distinct outcomes, each turned to its pair's order (lower index first), and how often each occurred.

    Returns (low, high, score of `low`, count): a vote of 5 over 2 reads as (2, 5, 0.0).
    """
    first, second, score = np.asarray(first, int), np.asarray(second, int), np.asarray(score, float)
    low, high = np.minimum(first, second), np.maximum(first, second)
    rows = np.stack([low, high, np.where(first == low, score, 1 - score)], axis=1)
    kinds, counts = np.unique(rows, axis=0, return_counts=True)
    return kinds[:, 0].astype(int), kinds[:, 1].astype(int), kinds[:, 2], counts.astype(float)


def _by_pair(low, high, score, weights):
    """Per pair of entrants: its indexes, and for each row of `weights` ([B, C] counts of the outcomes)
    the votes [B, P] and `low`'s wins [B, P] (a tie is half a win). The likelihood depends on nothing else.

    `_outcomes` sorts the outcomes, so those of one pair are adjacent: each pair sums one run.
    """
    starts = np.flatnonzero(np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])])
    return low[starts], high[starts], np.add.reduceat(weights, starts, axis=1), np.add.reduceat(
        weights * score, starts, axis=1)


def _fit(n: int, low, high, votes, wins, start=None) -> np.ndarray:
    """Log-strengths (nats, mean 0), one row per row of `votes` / `wins` ([B, P] per pair) → [B, n]."""
    replicates, pairs = votes.shape
    incidence = np.zeros((pairs, n))  # [P, n]: +1 for `low`, -1 for `high`
    incidence[np.arange(pairs), low] = 1
    incidence[np.arange(pairs), high] = -1
    scale = votes.sum(axis=1, keepdims=True)  # [B, 1]: the mean loss per vote is better conditioned
    votes, wins = votes / scale, wins / scale
    ridge = RIDGE / scale  # [B, 1]

    def objective(flat):
        theta = flat.reshape(replicates, n)  # [B, n]
        diff = theta @ incidence.T  # [B, P]: theta[low] - theta[high]
        # -log P(low wins) = softplus(-d) = softplus(d) - d; -log P(high wins) = softplus(d); a tie is half of each.
        loss = votes * np.logaddexp(0, diff) - wins * diff
        slope = votes * expit(diff) - wins  # d loss / d diff, [B, P]
        grad = slope @ incidence + ridge * theta  # [B, n]
        return loss.sum() + (ridge / 2 * theta**2).sum(), grad.ravel()

    x0 = np.zeros(replicates * n) if start is None else np.tile(start, replicates)
    result = minimize(objective, x0, jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15})
    theta = result.x.reshape(replicates, n)
    return theta - theta.mean(axis=1, keepdims=True)  # the ridge already centres it; exact here


def to_elo(theta: np.ndarray) -> np.ndarray:
    return MEAN_RATING + ELO_PER_NAT * theta


def _log_strengths(n: int, first, second, score) -> np.ndarray:
    low, high, s, counts = _outcomes(first, second, score)
    return _fit(n, *_by_pair(low, high, s, counts[None, :]))[0]


def fit_ratings(n: int, first, second, score) -> np.ndarray:
    """The maximum-likelihood ratings (Elo scale, mean 1000) of `n` entrants from the votes."""
    return to_elo(_log_strengths(n, first, second, score))


def bootstrap_ratings(n: int, first, second, score, resamples: int, rng: np.random.Generator,
                      start=None) -> np.ndarray:
    """[resamples, n] ratings, each fitted on the votes drawn with replacement (as many as there are).

    `start` (log-strengths, such as the full fit) only speeds the optimisation up.
    """
    low, high, s, counts = _outcomes(first, second, score)
    total = int(counts.sum())
    weights = rng.multinomial(total, counts / total, size=resamples).astype(float)  # [B, C]
    return to_elo(_fit(n, *_by_pair(low, high, s, weights), start=start))


def standings(entrants: list, first, second, score, resamples: int = BOOTSTRAP_RESAMPLES,
              seed: int = 0) -> list[Standing]:
    """Every entrant that took part in a vote, best first, with its interval, battle count and rank.

    `first` and `second` index into `entrants`. Empty when there are no votes.
    """
    first, second, score = np.asarray(first, int), np.asarray(second, int), np.asarray(score, float)
    if len(first) == 0:
        return []
    n = len(entrants)
    theta = _log_strengths(n, first, second, score)
    rating = to_elo(theta)
    samples = bootstrap_ratings(n, first, second, score, resamples, np.random.default_rng(seed), start=theta)
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    battles = np.bincount(first, minlength=n) + np.bincount(second, minlength=n)
    rows = [Standing(entrants[k], float(rating[k]), float(low[k]), float(high[k]), int(battles[k]), None)
            for k in np.argsort(-rating) if battles[k] > 0]
    return ranked(rows)


def ranked(rows: list[Standing]) -> list[Standing]:
    """`rows` with their ranks among themselves: 1 + the number of ranked rows whose lower
    bound is above this one's upper bound; None below MIN_BATTLES_FOR_RANK battles."""
    eligible = [r for r in rows if r.battles >= MIN_BATTLES_FOR_RANK]
    return [replace(r, rank=1 + sum(o.ci_low > r.ci_high for o in eligible) if r.battles >= MIN_BATTLES_FOR_RANK else None)
            for r in rows]


def method(resamples: int = BOOTSTRAP_RESAMPLES) -> str:
    return METHOD.format(resamples=resamples, min_battles=MIN_BATTLES_FOR_RANK)
