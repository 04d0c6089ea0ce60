"""A model given as full-precision weights plus a GGUF: THINKING runs the full precision, FAST the
GGUF, and FAST's quality is measured against the full precision.

The model is a tiny llama with random weights that the test builds with transformers and
writes as GGUF with inference.gguf_writer (the `gguf` package), at F32 and at Q4_0.
"""

import pytest

from inference import quality
from inference.plan import resolve, thinking_weights
from inference.types import GenerationRequest, Message, Mode, ModelSpec

SMOLLM = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(transformers directory, {qtype: GGUF path}) of a 2-layer llama on SmolLM2's tokenizer.

    Its output layer is padded 64 tokens past the tokenizer's (as many checkpoints are), so the
    two engines' vocabularies differ in length, as they do in the wild.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from inference import bundled
    from inference.gguf_writer import tokenizer_fields, write_llama

    root = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(bundled.transformers_dir(SMOLLM))
    config = LlamaConfig(
        vocab_size=len(tokenizer) + 64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
        tie_word_embeddings=True, initializer_range=0.3,  # peaked distributions: argmax is not a coin toss
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    hf = root / "hf"
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    fields = tokenizer_fields(bundled.get(SMOLLM).gguf_path())
    ggufs = {q: write_llama(model, root / f"tiny.{q}.gguf", tokenizer_from=fields, qtype=q) for q in ("F32", "Q4_0")}
    return hf, ggufs


def engines(spec):
    from inference.engines import llamacpp, torch as torch_engine

    return (llamacpp.load(spec, resolve(spec, Mode.FAST, "cpu")),
            torch_engine.load(spec, resolve(spec, Mode.THINKING, "cpu")))


@pytest.mark.slow
def test_full_precision_thinking_scores_fast_on_the_gguf_written_from_the_same_weights(tiny):
    hf, ggufs = tiny
    messages = (Message("user", "Tell me about the sea."),)
    results = {}
    for qtype, path in ggufs.items():
        spec = ModelSpec(slug="tiny", source=str(hf), gguf_file=str(path), context_length=256, default_max_tokens=24)
        weights = thinking_weights(spec)
        assert not weights.dequantized and weights.label == "full-precision weights"
        thinking_plan, fast_plan = resolve(spec, Mode.THINKING, "cpu"), resolve(spec, Mode.FAST, "cpu")
        assert (thinking_plan.engine, thinking_plan.dtype, thinking_plan.quantization) == ("torch", "float32", None)
        assert fast_plan.engine == "llamacpp"
        fast, thinking = engines(spec)
        assert thinking.model.config.vocab_size == fast.llm.n_vocab() + 64
        request = GenerationRequest("q", messages, max_tokens=24, temperature=0.0)
        answer = "".join(e.text for e in fast.stream(request) if e.type == "delta")
        results[qtype] = quality.measure(fast, thinking, messages, answer)
    # The F32 file holds the very weights THINKING runs: llama.cpp and torch agree on every token.
    assert results["F32"].tokens >= 10
    assert results["F32"].top1_agreement == 1.0 and results["F32"].first_divergence is None
    assert results["F32"].mean_kl < 1e-3
    # 4-bit weights cost agreement, and the check measures it.
    assert results["Q4_0"].mean_kl > 100 * results["F32"].mean_kl
    assert results["Q4_0"].top1_agreement < 1.0


def test_the_writer_puts_rotary_halves_into_llama_cpps_interleaved_order():
    import numpy as np

    from inference.gguf_writer import permute_qk

    # one head of dimension 4, rows [x0, x1, y0, y1] (transformers' halves) -> [x0, y0, x1, y1]
    weight = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert permute_qk(weight, n_head=1).tolist() == [[0, 1], [4, 5], [2, 3], [6, 7]]


def test_a_bundled_model_says_its_thinking_computes_the_4_bit_weights_in_fp32():
    from inference import bundled

    weights = thinking_weights(bundled.get(SMOLLM).spec())
    assert weights.dequantized and weights.label == "4-bit weights in fp32"
    assert "ships only as a 4-bit GGUF file (Q4_1)" in weights.note
    assert thinking_weights(ModelSpec(slug="g", source="/m/model.Q8_0.gguf")).label == "8-bit weights in fp32"
    assert thinking_weights(ModelSpec(slug="r", source="http://h/v1", backend="openai")) is None
