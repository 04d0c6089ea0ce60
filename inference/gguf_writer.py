"""A transformers llama model written as a GGUF file that llama.cpp loads: the minimal writer.

Council needs it to pair full-precision weights (a transformers directory, served by the
torch engine for THINKING) with a GGUF of the same model (llama.cpp, for FAST), so that
FAST's quality is measured against true full precision. It writes the llama architecture
(`LlamaForCausalLM`: SmolLM2, Llama, TinyLlama and their kin) at F32, F16, Q8_0 or Q4_0,
quantizing with the `gguf` package's own numpy code, and copies the tokenizer from
another GGUF file of the same vocabulary (a full tokenizer conversion is llama.cpp's
convert_hf_to_gguf.py's job). A fuller converter belongs here, next to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

QTYPES = ("F32", "F16", "Q8_0", "Q4_0")  # file formats this writer produces
_FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7}  # llama_ftype


def tokenizer_fields(gguf_path: str | os.PathLike) -> dict:
    """The `tokenizer.*` metadata of a GGUF file: {key: (value, type, element type or None)}."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(gguf_path))
    fields = {}
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        main = field.types[0]
        sub = field.types[-1] if main == GGUFValueType.ARRAY else None
        value = field.contents()
        if main == GGUFValueType.ARRAY and sub != GGUFValueType.STRING:
            value = [v.item() if hasattr(v, "item") else v for v in value]
        fields[key] = (value, main, sub)
    return fields


def permute_qk(weight, n_head: int):
    """transformers' rotary layout (halves) to llama.cpp's (interleaved pairs), per head.

    # weight: [n_head * head_dim, n_embd] -> same shape, rows reordered within each head
    """
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def llama_tensors(state: dict, config, n_vocab: int) -> Iterator[tuple[str, "object"]]:
    """(GGUF name, float32 numpy array) of every tensor of a llama model.

    The token embedding and output layer are cut to the `n_vocab` tokens the file names: a
    transformers vocabulary padded past its tokens loads in llama.cpp only without the padding.
    """
    import numpy as np

    def get(name):
        return state[name].detach().float().cpu().numpy().astype(np.float32)

    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    yield "token_embd.weight", get("model.embed_tokens.weight")[:n_vocab]
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        yield f"blk.{i}.attn_norm.weight", get(p + "input_layernorm.weight")
        yield f"blk.{i}.attn_q.weight", permute_qk(get(p + "self_attn.q_proj.weight"), n_head)
        yield f"blk.{i}.attn_k.weight", permute_qk(get(p + "self_attn.k_proj.weight"), n_kv)
        yield f"blk.{i}.attn_v.weight", get(p + "self_attn.v_proj.weight")
        yield f"blk.{i}.attn_output.weight", get(p + "self_attn.o_proj.weight")
        yield f"blk.{i}.ffn_norm.weight", get(p + "post_attention_layernorm.weight")
        yield f"blk.{i}.ffn_gate.weight", get(p + "mlp.gate_proj.weight")
        yield f"blk.{i}.ffn_up.weight", get(p + "mlp.up_proj.weight")
        yield f"blk.{i}.ffn_down.weight", get(p + "mlp.down_proj.weight")
    yield "output_norm.weight", get("model.norm.weight")
    if not getattr(config, "tie_word_embeddings", False):
        yield "output.weight", get("lm_head.weight")[:n_vocab]


def write_llama(model, path: str | os.PathLike, *, tokenizer_from: str | os.PathLike | dict, qtype: str = "F32",
                name: str = "") -> Path:
    """Write a transformers llama `model` to `path` as GGUF, with `tokenizer_from`'s tokenizer
    (a GGUF file, or its `tokenizer_fields`, read once for several files).

    Matrices go in `qtype`; norms stay F32 (as llama.cpp's converter does). Returns the path.
    """
    import gguf
    import numpy as np

    qtype = qtype.upper()
    if qtype not in QTYPES:
        raise ValueError(f"qtype must be one of {', '.join(QTYPES)}, not {qtype!r}")
    config = model.config
    if config.model_type != "llama":
        raise ValueError(f"only the llama architecture is written here, not {config.model_type!r}")
    tokens = tokenizer_from if isinstance(tokenizer_from, dict) else tokenizer_fields(tokenizer_from)
    n_vocab = len(tokens["tokenizer.ggml.tokens"][0])
    if n_vocab > config.vocab_size:
        raise ValueError(f"the tokenizer has {n_vocab} tokens but the model only {config.vocab_size}")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads

    path = Path(path)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name or path.stem)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(getattr(config, "rope_theta", None) or config.rope_parameters["rope_theta"]))
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(_FILE_TYPES[qtype])
    for key, (value, vtype, sub) in tokens.items():
        writer.add_key_value(key, value, vtype, sub)

    target = getattr(gguf.GGMLQuantizationType, qtype)
    for tensor_name, data in llama_tensors(model.state_dict(), config, n_vocab):
        if data.ndim == 1 or qtype == "F32":
            writer.add_tensor(tensor_name, data)
        elif qtype == "F16":
            writer.add_tensor(tensor_name, data.astype(np.float16))
        else:
            writer.add_tensor(tensor_name, gguf.quants.quantize(data, target), raw_dtype=target)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
