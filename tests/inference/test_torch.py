"""The torch engine: token loop, speculation, cancel, stops, reasoning, formatting.

The fast tests run a tiny randomly initialised llama-architecture model with the bundled
SmolLM2 tokenizer: the engine's loop does not depend on the weights being trained, and
the real model takes a slow test. The real model's tests are marked slow.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from streams import ask, collect  # noqa: E402

from inference import bundled  # noqa: E402
from inference.engines import llamacpp  # noqa: E402
from inference.engines.torch import TorchEngine  # noqa: E402
from inference.plan import resolve  # noqa: E402
from inference.text import IncrementalDetokenizer  # noqa: E402
from inference.types import DeltaKind, Message, Mode  # noqa: E402

THINK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n{% if enable_thinking %}<think>\n{% endif %}"
)


@pytest.fixture(scope="module")
def gguf_tokenizer():
    path = bundled.BUNDLED["smollm2-135m-instruct"].gguf_path()
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.fixture(scope="module")
def tiny_model(gguf_tokenizer):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(gguf_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(config).eval()


def tiny_engine(spec, mode, model, tokenizer, **changes):
    spec = replace(spec, backend="torch", **changes)
    return TorchEngine(spec, resolve(spec, mode, "cpu"), model=model, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def tiny_thinking(smollm_spec, tiny_model, gguf_tokenizer):
    return tiny_engine(smollm_spec, Mode.THINKING, tiny_model, gguf_tokenizer)


def test_speculative_greedy_output_equals_plain_greedy_output(smollm_spec, tiny_model, gguf_tokenizer, tiny_thinking):
    fast = tiny_engine(smollm_spec, Mode.FAST, tiny_model, gguf_tokenizer)
    assert fast.plan.speculation == "ngram"
    request = ask("apple banana cherry apple banana cherry apple banana", max_tokens=80)
    plain, _, plain_end, _ = collect(tiny_thinking.stream(request))
    spec_text, _, spec_end, _ = collect(fast.stream(request))
    assert spec_text == plain
    assert spec_end.metrics.completion_tokens == plain_end.metrics.completion_tokens
    assert spec_end.metrics.draft_tokens > 0 and spec_end.metrics.accepted_tokens > 0
    assert plain_end.metrics.draft_tokens is None and plain_end.metrics.speculation is None


def test_speculative_decoding_ids_equal_greedy_ids_step_by_step(tiny_thinking):
    from inference.engines.base import DecodeStats

    ids = tiny_thinking.tokenize_prompt("one two three one two three one two")
    greedy = []
    for token in tiny_thinking.tokens(ids, ask("x"), 60):
        greedy.append(token)
        if len(greedy) == 60:
            break
    stats = DecodeStats()
    drafted = []
    for token in tiny_thinking.speculative_tokens(ids, stats, 60):
        drafted.append(token)
        if len(drafted) == 60:
            break
    assert drafted == greedy and stats.drafted > 0


def test_it_stops_at_max_tokens_and_reports_metrics(tiny_thinking):
    _, _, last, _ = collect(tiny_thinking.stream(ask("Hello", max_tokens=9)))
    m = last.metrics
    assert last.type == "done" and m.completion_tokens == 9 and m.engine == "torch" and m.quantization is None
    assert m.ttft_ms > 0 and m.decode_tokens_per_s > 0 and m.prompt_tokens > 5


def test_cancel_ends_the_stream_within_one_decode_step(tiny_thinking):
    events, tokens_at_cancel = [], None
    for event in tiny_thinking.stream(ask("Hello there", "c1", max_tokens=200)):
        events.append(event)
        if event.type == "delta" and tokens_at_cancel is None and len(events) >= 3:
            tiny_thinking.cancel("c1")
            tokens_at_cancel = len(events)
    assert events[-1].type == "cancelled"
    assert len(events) == tokens_at_cancel + 1


def test_it_stops_at_a_stop_string(tiny_thinking):
    full, *_ = collect(tiny_thinking.stream(ask("Hello", max_tokens=40)))
    stop = full[10:14]
    cut, _, last, _ = collect(tiny_thinking.stream(ask("Hello", max_tokens=40, stop=(stop,))))
    assert last.type == "done" and cut == full[: full.index(stop)]


def test_a_prompt_longer_than_the_context_ends_in_a_clear_error(tiny_thinking):
    _, _, last, events = collect(tiny_thinking.stream(ask("word " * 3000)))
    assert len(events) == 1 and last.type == "error" and "shorten the prompt" in last.error


def test_thinking_with_a_reasoning_template_streams_reasoning_deltas(smollm_spec, tiny_model, gguf_tokenizer):
    engine = tiny_engine(
        smollm_spec, Mode.THINKING, tiny_model, gguf_tokenizer, chat_template=THINK_TEMPLATE, supports_reasoning=True
    )
    assert engine.plan.reasoning
    answer, reasoning, last, events = collect(engine.stream(ask("Why?", max_tokens=20)))
    assert last.type == "done" and reasoning and not answer  # a random model never closes </think>
    assert {e.kind for e in events[:-1]} == {DeltaKind.REASONING}


def test_a_multibyte_character_split_across_tokens_comes_out_whole(gguf_tokenizer):
    text = "🦙 漢字 ü"
    ids = gguf_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text.split())
    detok = IncrementalDetokenizer(lambda t: gguf_tokenizer.decode(t, skip_special_tokens=True))
    deltas = [detok.feed(t) for t in ids]
    assert all("\ufffd" not in d for d in deltas)
    assert "".join(deltas) + detok.flush() == text


def test_both_engines_format_a_conversation_to_the_same_prompt_and_ids(tiny_thinking, smollm_fast):
    messages = (
        Message("system", "You are terse."),
        Message("user", "Hi! 🦙 Wie geht's? 漢字"),
        Message("assistant", "Fine."),
        Message("user", "Write   code:\n\tprint('x')"),
    )
    assert tiny_thinking.chat == smollm_fast.chat
    torch_prompt = tiny_thinking.chat.render(messages)
    llama_prompt = smollm_fast.chat.render(messages)
    assert torch_prompt == llama_prompt
    assert tiny_thinking.tokenize_prompt(torch_prompt) == smollm_fast.tokenize_prompt(llama_prompt)
    assert smollm_fast.stop_token_ids >= tiny_thinking.stop_token_ids


def test_gemma_gets_councils_template_in_both_engines(gguf_tokenizer):
    from inference.gguf import chat_format_of_file as gguf_chat_format

    path = str(bundled.BUNDLED["gemma-3-270m"].gguf_path())
    chat = gguf_chat_format(path)
    assert chat == llamacpp.chat_format_of_file(path)
    assert chat.render([Message("user", "Hi")]) == (
        "<bos>The following is a conversation with a helpful assistant.\n\nUser: Hi\nAssistant:"
    )


@pytest.fixture(scope="module")
def smollm_thinking(smollm_spec):
    from inference.engines.torch import load

    return load(smollm_spec, resolve(smollm_spec, Mode.THINKING, "cpu"))


@pytest.mark.slow
def test_the_real_model_answers_at_full_precision(smollm_thinking):
    request = ask("What is the capital of France?", system="You are a helpful assistant.", max_tokens=30)
    answer, _, last, _ = collect(smollm_thinking.stream(request))
    assert last.type == "done" and "Paris" in answer
    assert smollm_thinking.describe()["dtype"] == "float32"


@pytest.mark.slow
def test_the_real_model_formats_prompts_like_llamacpp(smollm_thinking, smollm_fast):
    messages = (Message("user", "Résumé: 🦙 漢字"),)
    prompt = smollm_thinking.chat.render(messages)
    assert prompt == smollm_fast.chat.render(messages)
    assert smollm_thinking.tokenize_prompt(prompt) == smollm_fast.tokenize_prompt(prompt)


@pytest.mark.slow
def test_the_real_model_speculative_output_equals_greedy(smollm_spec, smollm_thinking):
    from inference.engines.torch import TorchEngine as Engine

    spec = replace(smollm_spec, backend="torch")
    fast = Engine(spec, resolve(spec, Mode.FAST, "cpu"), model=smollm_thinking.model, tokenizer=smollm_thinking.tokenizer)
    request = ask("Repeat this list three times: apple, banana, cherry, apple, banana, cherry.", max_tokens=60)
    plain, *_ = collect(smollm_thinking.stream(request))
    spec_text, _, last, _ = collect(fast.stream(request))
    assert spec_text == plain and last.metrics.accepted_tokens > 0
