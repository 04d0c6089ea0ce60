"""Figures of streams measured side by side: rates over a common interval, shares, percentiles.

A stream's `series` is [(time_s, tokens_so_far), ...] in time order (time.time() seconds).
Django-free and model-free, so the benchmark's arithmetic is tested on its own.
"""

from __future__ import annotations

import statistics


def count_at(series: list[tuple[float, float]], t: float) -> float:
    """Tokens so far at time `t`, interpolated linearly between the samples."""
    if t <= series[0][0]:
        return series[0][1]
    for (t0, n0), (t1, n1) in zip(series, series[1:]):
        if t <= t1:
            return n0 + (n1 - n0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)
    return series[-1][1]


def together_interval(all_series: list[list[tuple[float, float]]]) -> tuple[float, float] | None:
    """The interval in which every stream is decoding: from the last first token to the first last token."""
    if not all_series or any(len(s) < 2 for s in all_series):
        return None
    start = max(s[0][0] for s in all_series)
    end = min(s[-1][0] for s in all_series)
    return (start, end) if end > start else None


def rates_together(all_series: list[list[tuple[float, float]]]) -> list[float | None]:
    """Each stream's tokens per second over the interval in which all of them decode (None: they never overlap).

    Streams end at different times: one that decodes mostly alone after the others ended
    would otherwise look unharmed by the sharing.
    """
    interval = together_interval(all_series)
    if interval is None:
        return [None] * len(all_series)
    start, end = interval
    return [(count_at(s, end) - count_at(s, start)) / (end - start) for s in all_series]


def aggregate_rate(all_series: list[list[tuple[float, float]]]) -> float | None:
    """Tokens per second of all streams together, first token to last, first tokens (prefill) left out."""
    usable = [s for s in all_series if len(s) >= 2]
    if not usable:
        return None
    start = min(s[0][0] for s in usable)
    end = max(s[-1][0] for s in usable)
    decoded = sum(s[-1][1] - s[0][1] for s in usable)
    return decoded / (end - start) if end > start else None


def shares(together: list[float | None], alone: list[float | None]) -> list[float | None]:
    """Each stream's rate together divided by the same stream's rate alone."""
    return [t / a if t is not None and a else None for t, a in zip(together, alone)]


def percentiles(values: list[float]) -> tuple[float | None, float | None]:
    """p50 and p95 (nearest rank)."""
    if not values:
        return None, None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return statistics.median(ordered), p95
