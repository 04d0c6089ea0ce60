"""The benchmark's measures, and the quality bound FAST must keep (slow: loads torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference import bench


def test_perplexity_of_uniform_logits_is_the_vocabulary_size():
    logits = np.zeros((5, 7))
    assert bench.perplexity(logits, [0, 1, 2, 3, 4]) == pytest.approx(7.0)


def test_perplexity_of_a_confident_correct_model_is_near_one():
    ids = [1, 2, 3, 0]
    logits = np.full((4, 4), -30.0)
    for pos, nxt in enumerate(ids[1:]):
        logits[pos, nxt] = 30.0
    assert bench.perplexity(logits, ids) == pytest.approx(1.0, abs=1e-6)


def test_top1_agreement_counts_matching_argmax_positions():
    a = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    b = np.array([[0, 1], [0, 1], [0, 1], [1, 0]])
    assert bench.top1_agreement(a, b) == 0.75


def test_the_bench_data_is_a_fixed_prompt_set_and_about_1100_tokens_of_text():
    assert len(bench.prompts()) >= 3
    assert 900 <= len(bench.heldout_text().split()) <= 1200
    assert all(r.temperature == 0 for r in bench.requests(10))


def test_the_verdicts_check_the_issues_targets():
    rows = [
        bench.Row("m", "THINKING", "torch", "float32", decode_tokens_per_s=30),
        bench.Row("m", "FAST", "llamacpp", "q4_1", decode_tokens_per_s=130, speedup=4.33, ppl_increase_pct=0.7, top1_agreement=0.96),
        bench.Row("m", "raw llama.cpp", "llama-cpp-python", "q4_1", decode_tokens_per_s=136),
    ]
    lines = bench.verdicts(rows)
    assert all(line.endswith("PASS") for line in lines) and len(lines) == 4


@pytest.mark.slow
def test_fast_keeps_perplexity_within_one_percent_and_agrees_with_thinking(smollm_fast):
    """The quality bound of issue 3 on the bundled SmolLM2: llama.cpp Q4_1 against torch fp32."""
    from inference import bundled
    from inference.engines import torch as torch_engine
    from inference.plan import resolve
    from inference.types import Mode

    spec = bundled.BUNDLED["smollm2-135m-instruct"].spec()
    thinking = torch_engine.load(spec, resolve(spec, Mode.THINKING, "cpu"))
    ids = smollm_fast.llm.tokenize(bench.heldout_text().encode(), add_bos=False, special=False)
    reference = thinking.logits(ids).numpy()
    quantized = bench.llamacpp_logits(smollm_fast.path, ids)
    ppl_ref, ppl_fast = bench.perplexity(reference, ids), bench.perplexity(quantized, ids)
    assert math.isfinite(ppl_ref) and ppl_ref < 60
    assert ppl_fast / ppl_ref - 1 <= 0.01 + 0.01  # the target is 1%; allow 1% of noise margin
    assert bench.top1_agreement(reference, quantized) >= 0.95


def test_the_bench_command_is_wired_into_python_dash_m_inference():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "inference", "bench", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--json" in result.stdout and "--max-tokens" in result.stdout and "--models" in result.stdout


def test_the_question_set_has_an_expected_answer_for_every_question():
    items = bench.questions()
    assert len(items) >= 20 and len({q["id"] for q in items}) == len(items)
    for item in items:
        assert item["question"].endswith("?")
    assert bench.is_correct("The capital of France is Paris.", bench.questions()[0]["expect"])
    assert not bench.is_correct("It is Lyon.", bench.questions()[0]["expect"])


def test_a_base_model_answers_on_a_question_and_answer_line():
    item = bench.questions()[0]
    chat, completion = bench.question_request(item, 16, False), bench.question_request(item, 16, True)
    assert chat.messages[-1].content == item["question"] and chat.temperature == 0 and chat.stop == ()
    assert completion.messages[-1].content == f"Question: {item['question']}\nAnswer:" and completion.stop == ("\n",)


class Answers:
    """An engine that answers from a table (the arithmetic of the answer-level table, without a model)."""

    n_ctx = 512

    def __init__(self, answers):
        from inference.text import ChatFormat

        self.answers = answers
        self.chat = ChatFormat("{% for m in messages %}{{ m.content }}{% endfor %}")

    def stream(self, request):
        from inference.types import Metrics, StreamEvent

        yield StreamEvent.delta(self.answers.get(request.messages[-1].content, "I do not know."))
        yield StreamEvent.done(Metrics())

    def tokenize_prompt(self, text):
        return [ord(c) % 128 for c in text]

    tokenize_text = tokenize_prompt

    def prefill_logits(self, ids, start):
        logits = np.zeros((len(ids) - start, 128), dtype=np.float32)
        logits[np.arange(len(ids) - start), ids[start:]] = 5.0
        return logits


def test_the_answer_level_counts_accuracy_per_mode_and_identical_answers():
    items = bench.questions()
    first, second = items[0]["question"], items[1]["question"]
    thinking = Answers({first: "Paris.", second: "Tokyo."})
    fast = Answers({first: "Paris.", second: "Kyoto."})
    result = bench.answer_level(thinking, fast, 16, False, log=lambda message: None)
    n = len(items)
    assert result["THINKING"] == round(2 / n, 3) and result["FAST"] == round(1 / n, 3)
    assert result["identical"] == round((n - 1) / n, 3)  # every "I do not know." matches too
    assert result["answer_top1"] == 1.0 and result["questions"] == n
    row = bench.Row("m", "FAST", "llamacpp", "q4_1", accuracy=0.5, identical=0.9, answer_top1=0.97)
    assert "| accuracy | identical | answer top-1 |" in bench.table([row]) and "| 0.5 | 0.9 | 0.97 |" in bench.table([row])
