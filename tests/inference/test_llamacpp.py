"""The llama.cpp engine on the bundled SmolLM2 GGUF: streaming, limits, stops, cancel, UTF-8."""

from __future__ import annotations

import threading
from dataclasses import replace

from streams import ask, collect

from inference.engines import llamacpp
from inference.plan import resolve
from inference.text import Utf8Stream
from inference.types import Message, Mode

STORY = "Write a short story about a robot who learns to paint."


def test_it_streams_deltas_then_done_with_metrics(smollm_fast):
    answer, reasoning, last, events = collect(smollm_fast.stream(ask("What is the capital of France?", system="You are a helpful assistant.", max_tokens=40)))
    assert last.type == "done" and all(not e.terminal for e in events[:-1])
    assert "Paris" in answer and reasoning == ""
    m = last.metrics
    assert m.engine == "llamacpp" and m.quantization == "q4_1" and m.speculation is None
    assert m.prompt_tokens > 10 and 0 < m.completion_tokens <= 40
    assert m.ttft_ms > 0 and m.total_ms >= m.ttft_ms and m.decode_tokens_per_s > 0
    assert m.draft_tokens is None


def test_it_stops_at_max_tokens(smollm_fast):
    _, _, last, _ = collect(smollm_fast.stream(ask(STORY, max_tokens=7)))
    assert last.type == "done" and last.metrics.completion_tokens == 7


def test_greedy_output_is_deterministic(smollm_fast):
    a, *_ = collect(smollm_fast.stream(ask(STORY, max_tokens=30)))
    b, *_ = collect(smollm_fast.stream(ask(STORY, max_tokens=30)))
    assert a == b


def test_it_stops_at_a_stop_string_and_leaves_it_out(smollm_fast):
    full, *_ = collect(smollm_fast.stream(ask(STORY, max_tokens=60)))
    word = full.split()[5]
    cut, _, last, _ = collect(smollm_fast.stream(ask(STORY, max_tokens=60, stop=(word,))))
    assert last.type == "done"
    assert cut == full[: full.index(word)]


def test_a_prompt_longer_than_the_context_ends_in_a_clear_error(smollm_fast):
    _, _, last, events = collect(smollm_fast.stream(ask("word " * 3000)))
    assert len(events) == 1 and last.type == "error"
    assert "tokens long" in last.error and "2047" in last.error


def test_cancel_ends_the_stream_within_one_decode_step(smollm_fast):
    events = []
    for event in smollm_fast.stream(ask(STORY, "to-cancel", max_tokens=200)):
        events.append(event)
        if len(events) == 3:
            smollm_fast.cancel("to-cancel")
    assert events[-1].type == "cancelled"
    assert len(events) == 4  # the step in flight may not add a delta after the cancel
    assert events[-1].metrics.completion_tokens <= 4


def test_a_cancel_that_arrives_before_the_stream_starts_still_counts(smollm_fast):
    smollm_fast.cancel("early")
    _, _, last, events = collect(smollm_fast.stream(ask(STORY, "early")))
    assert last.type == "cancelled" and len(events) == 1
    # The id is forgotten after its stream: the same id can run again.
    _, _, again, _ = collect(smollm_fast.stream(ask("Hi", "early", max_tokens=3)))
    assert again.type == "done"


def test_two_threads_share_the_engine_one_generation_at_a_time(smollm_fast):
    results = {}

    def run(name):
        results[name] = collect(smollm_fast.stream(ask(STORY, name, max_tokens=20)))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results["a"][0] == results["b"][0]
    assert results["a"][2].type == results["b"][2].type == "done"


def test_a_multibyte_character_split_across_tokens_comes_out_whole(smollm_fast):
    text = "🦙 漢字 ü"
    ids = smollm_fast.llm.tokenize(text.encode(), add_bos=False, special=False)
    assert len(ids) > len(text.split()), "the emoji should take several byte tokens"
    stream = Utf8Stream()
    deltas = [stream.feed(smollm_fast.piece(t)) for t in ids]
    assert all("\ufffd" not in d for d in deltas)
    assert "".join(deltas) + stream.flush() == text


def test_a_model_asked_to_echo_emoji_streams_them_intact(smollm_fast):
    request = ask("Repeat exactly: 🦙🎉 漢字", max_tokens=30)
    answer, _, last, events = collect(smollm_fast.stream(request))
    assert last.type == "done"
    assert "\ufffd" not in answer and any(ord(c) > 0x2000 for c in answer)


def test_the_system_prompt_and_history_go_through_the_models_template(smollm_fast):
    messages = (Message("system", "You are terse."), Message("user", "Hi"), Message("assistant", "Hello."), Message("user", "Bye"))
    prompt = smollm_fast.chat.render(messages)
    assert prompt.startswith("<|im_start|>system\nYou are terse.<|im_end|>")
    assert prompt.endswith("<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
    ids = smollm_fast.tokenize_prompt(prompt)
    assert ids[0] == smollm_fast.llm.tokenize(b"<|im_start|>", add_bos=False, special=True)[0]


def test_ngram_speculation_gives_the_same_greedy_text_and_counts_drafts(smollm_spec, smollm_fast):
    spec = replace(smollm_spec, speculative_method="ngram")
    engine = llamacpp.load(spec, resolve(spec, Mode.FAST, "cpu"))
    request = ask("Repeat this list three times: apple, banana, cherry, apple, banana, cherry.", max_tokens=60)
    plain, _, plain_end, _ = collect(smollm_fast.stream(request))
    spec_text, _, spec_end, _ = collect(engine.stream(request))
    assert spec_text == plain
    m = spec_end.metrics
    assert m.speculation == "ngram" and m.draft_tokens > 0 and 0 <= m.accepted_tokens <= m.draft_tokens
    assert m.completion_tokens == plain_end.metrics.completion_tokens


def test_the_engine_describes_itself(smollm_fast):
    info = smollm_fast.describe()
    assert info["backend"] == "llamacpp" and info["quantization"] == "q4_1" and info["device"] == "cpu"
    assert smollm_fast.approx_bytes() > 50_000_000


def test_gemma_a_base_model_answers_on_councils_transcript_and_stops_at_the_next_turn():
    from inference import bundled

    spec = bundled.BUNDLED["gemma-3-270m"].spec()
    engine = llamacpp.load(spec, resolve(spec, Mode.FAST, "cpu"))
    answer, _, last, _ = collect(engine.stream(ask("What is the capital of France?", max_tokens=60)))
    assert last.type == "done" and last.metrics.quantization == "q4_k_m"
    assert "Paris" in answer and "User:" not in answer and not answer.startswith(" ")
    assert last.metrics.completion_tokens < 60
