"""The streaming text helpers: UTF-8, detokenization, stop strings, <think>, chat templates."""

from __future__ import annotations

from inference.text import (
    PLAIN_STOP_STRINGS,
    IncrementalDetokenizer,
    StopMatcher,
    ThinkSplitter,
    Utf8Stream,
    chat_format_for,
    opens_reasoning,
)
from inference.gguf import quantization as gguf_quantization
from inference.types import DeltaKind, Message


def test_it_holds_back_a_character_split_across_byte_chunks():
    stream = Utf8Stream()
    data = "a🦙漢".encode()
    out = [stream.feed(data[i : i + 1]) for i in range(len(data))]
    assert "\ufffd" not in "".join(out)
    assert "".join(out) + stream.flush() == "a🦙漢"
    assert out[1:5] == ["", "", "", "🦙"]


def test_the_incremental_detokenizer_never_emits_half_a_character():
    # A toy tokenizer whose tokens are single bytes: decoding a prefix that ends inside
    # a character yields U+FFFD, as real byte-fallback tokenizers do.
    text = "héllo 🦙 世界"
    ids = list(text.encode())
    detok = IncrementalDetokenizer(lambda toks: bytes(toks).decode("utf-8", errors="replace"))
    deltas = [detok.feed(t) for t in ids]
    assert all("\ufffd" not in d for d in deltas)
    assert "".join(deltas) + detok.flush() == text


def test_it_cuts_the_text_at_a_stop_string_split_across_deltas():
    stop = StopMatcher(["###", "END"])
    out = [stop.feed(t) for t in ["Hello #", "# wor", "ld ##", "# tail"]]
    assert "".join(out) == "Hello ## world "
    assert stop.stopped
    assert stop.feed("more") == ""


def test_it_releases_held_text_that_turned_out_not_to_be_a_stop_string():
    stop = StopMatcher(["</answer>"])
    assert stop.feed("a </ans") == "a "
    assert stop.feed("wer") == ""
    assert stop.feed("s x") == "</answers x"
    assert stop.flush() == ""
    assert not stop.stopped


def test_the_held_back_tail_comes_out_at_the_end():
    stop = StopMatcher(["\nUser:"])
    assert stop.feed("Paris.\nUs") == "Paris."
    assert stop.flush() == "\nUs"


def test_it_splits_reasoning_from_the_answer_across_split_tags():
    splitter = ThinkSplitter()
    pieces = []
    for chunk in ["<thi", "nk>Let me", " think.</th", "ink>\n\nThe answer", " is 4."]:
        pieces += splitter.feed(chunk)
    pieces += splitter.flush()
    reasoning = "".join(t for k, t in pieces if k is DeltaKind.REASONING)
    answer = "".join(t for k, t in pieces if k is DeltaKind.ANSWER)
    assert reasoning == "Let me think."
    assert answer == "The answer is 4."


def test_it_starts_in_reasoning_when_the_prompt_opened_the_think_block():
    splitter = ThinkSplitter(in_reasoning=opens_reasoning("<|assistant|>\n<think>\n"))
    pieces = splitter.feed("hmm</think>Yes") + splitter.flush()
    assert pieces == [(DeltaKind.REASONING, "hmm"), (DeltaKind.ANSWER, "Yes")]


def test_text_without_think_tags_is_all_answer():
    splitter = ThinkSplitter()
    assert splitter.feed("a < b and <thin") + splitter.feed("gs>") + splitter.flush() == [
        (DeltaKind.ANSWER, "a < b and "),
        (DeltaKind.ANSWER, "<things>"),
    ]


def test_a_model_without_a_template_gets_a_transcript_format_that_stops_at_the_next_turn():
    chat = chat_format_for(None, bos_token="<bos>", eos_token="<eos>", add_bos=True)
    prompt = chat.render([Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello"), Message("user", "Capital of France?")])
    assert prompt == "<bos>Be brief.\n\nUser: Hi\nAssistant: Hello\nUser: Capital of France?\nAssistant:"
    assert chat.stop_strings == PLAIN_STOP_STRINGS
    assert not chat.needs_bos(prompt)


def test_a_model_template_is_rendered_with_the_generation_prompt_and_thinking_flag():
    template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% if enable_thinking %}<think>{% endif %}{% endif %}"
    )
    chat = chat_format_for(template, bos_token="<s>", eos_token="</s>", add_bos=True)
    assert chat.render([Message("user", "hi")]) == "<|user|>hi\n<|assistant|>"
    assert chat.render([Message("user", "hi")], reasoning=True).endswith("<think>")
    assert chat.needs_bos("<|user|>hi")
    assert chat.supports_reasoning


def test_it_reads_the_quantization_from_a_gguf_file_name():
    assert gguf_quantization("/x/SmolLM2-135M-Instruct.Q4_1.gguf") == "q4_1"
    assert gguf_quantization("gemma-3-270m-q4_k_m.gguf") == "q4_k_m"
    assert gguf_quantization("model.gguf") == "gguf"
