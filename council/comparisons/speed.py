"""FAST against THINKING of one model, as a speed ratio, only from figures taken under the same conditions.

Two columns of one comparison usually decode part of the time together and part alone
(FAST ends first, then THINKING gets every core), so their overall rates are not
comparable. Each answer's metrics keep its decode rate per condition (threads, answers
decoding in the process: `decode_by_condition`, see inference.threads); the ratio is
taken under a condition both decoded in, the one with the most tokens behind both
figures. Engines that report no per-condition rates compare only when their `threads`
and `concurrent_streams` match.
"""

from __future__ import annotations

MIN_TOKENS = 8  # fewer tokens under a condition give no rate worth a ratio


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe(threads: int | None, streams: int | None) -> str:
    """'2 threads, alone' / '1 thread beside 1 other answer'."""
    parts = _plural(threads, "thread") if threads else "threads unknown"
    if streams and streams > 1:
        return f"{parts} beside {_plural(streams - 1, 'other answer')}"
    return f"{parts}, alone"


def fast_vs_thinking(fast: dict, thinking: dict) -> dict | None:
    """{ratio, condition} when comparable, {ratio: None, why} when not; None without figures for both."""
    if not fast.get("decode_tokens_per_s") or not thinking.get("decode_tokens_per_s"):
        return None
    by_fast = {(c["threads"], c["streams"]): c for c in fast.get("decode_by_condition") or []}
    by_thinking = {(c["threads"], c["streams"]): c for c in thinking.get("decode_by_condition") or []}
    common = [
        (min(by_fast[k]["tokens"], by_thinking[k]["tokens"]), k)
        for k in by_fast.keys() & by_thinking.keys()
        if by_fast[k].get("tokens_per_s") and by_thinking[k].get("tokens_per_s")
        and min(by_fast[k]["tokens"], by_thinking[k]["tokens"]) >= MIN_TOKENS
    ]
    if common:
        _, key = max(common)
        return {"ratio": by_fast[key]["tokens_per_s"] / by_thinking[key]["tokens_per_s"], "condition": describe(*key)}
    if not by_fast and not by_thinking:
        same = (fast.get("threads"), fast.get("concurrent_streams")) == (thinking.get("threads"), thinking.get("concurrent_streams"))
        if same:
            return {"ratio": fast["decode_tokens_per_s"] / thinking["decode_tokens_per_s"],
                    "condition": describe(fast.get("threads"), fast.get("concurrent_streams"))}
    return {
        "ratio": None,
        "why": f"FAST decoded on {describe(fast.get('threads'), fast.get('concurrent_streams'))}, "
               f"THINKING on {describe(thinking.get('threads'), thinking.get('concurrent_streams'))}",
    }
