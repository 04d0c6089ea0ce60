"""One answer budget in both modes; THINKING's reasoning counted against a budget of its own."""

import time

from inference.engines.base import budgets, stream_tokens
from inference.plan import resolve
from inference.types import Metrics, Mode, ModelSpec
from tests.inference.streams import ask, collect

WORDS = {1: "<think>", 2: "</think>", 3: " idea", 4: " word"}


def run(tokens, max_tokens, max_reasoning_tokens=0):
    return collect(stream_tokens(
        ask("hi"), iter(tokens), decode=WORDS.__getitem__, flush=lambda: "", prompt_tokens=1,
        max_tokens=max_tokens, max_reasoning_tokens=max_reasoning_tokens, stop_token_ids=frozenset(),
        is_cancelled=lambda: False, started=time.perf_counter(), base_metrics=Metrics(),
    ))


def test_reasoning_tokens_do_not_use_up_the_answer_budget():
    tokens = [1, 3, 3, 3, 3, 2, 4, 4, 4, 4, 4]
    answer, reasoning, end, _ = run(tokens, max_tokens=3, max_reasoning_tokens=10)
    assert reasoning == "idea idea idea idea"
    assert answer == "word word word"  # three answer tokens, after six of reasoning
    assert end.metrics.reasoning_tokens == 6 and end.metrics.completion_tokens == 9


def test_the_reasoning_budget_ends_a_stream_that_only_reasons():
    _, reasoning, end, _ = run([1] + [3] * 50, max_tokens=100, max_reasoning_tokens=5)
    assert end.type == "done" and end.metrics.completion_tokens == 5 and reasoning == "idea idea idea idea"


def test_without_a_reasoning_budget_every_token_counts_against_the_answers():
    answer, reasoning, end, _ = run([1, 3, 2, 4, 4], max_tokens=3)
    assert reasoning == "idea" and answer == "" and end.metrics.reasoning_tokens is None


def test_a_request_asks_for_at_most_the_answer_budget_and_the_context_bounds_both():
    spec = ModelSpec(slug="m", source="/m", default_max_tokens=100, supports_reasoning=True, reasoning_max_tokens=300,
                     context_length=4096)
    thinking = resolve(spec, Mode.THINKING, "cpu")
    assert budgets(ask("hi", max_tokens=500), thinking, room=4000) == (100, 300)
    assert budgets(ask("hi", max_tokens=50), thinking, room=4000) == (50, 300)
    assert budgets(ask("hi", max_tokens=500), thinking, room=250) == (100, 150)
    assert budgets(ask("hi", max_tokens=500), resolve(spec, Mode.FAST, "cpu"), room=4000) == (100, 0)
