"""GGUF files: which one a model loads, the weight format it holds, its chat format.

Both local engines take a model's template and special tokens from here, by the same
code, so that they render a conversation to the same prompt.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import threading
from typing import Callable

from inference.errors import EngineError
from inference.text import ChatFormat, chat_format_for
from inference.types import ModelSpec

# llama-cpp-python opens a file with stdout and stderr redirected (os.dup2, process-wide):
# two opens at once in two threads could leave them pointing at /dev/null for good.
open_lock = threading.Lock()

_QUANT_RE = re.compile(r"(IQ\d_[A-Z0-9_]+|Q\d_K_[SML]|Q\d_K|Q\d_\d|BF16|F16|F32)", re.IGNORECASE)


def path_for(spec: ModelSpec) -> str | None:
    """The GGUF file llama.cpp would load for `spec`, or None when it has none."""
    if spec.gguf_file:
        if os.path.isabs(spec.gguf_file) or os.path.exists(spec.gguf_file):
            return spec.gguf_file
        if os.path.isdir(spec.source):
            return os.path.join(spec.source, spec.gguf_file)
        return spec.gguf_file
    if spec.source.lower().endswith(".gguf"):
        return spec.source
    from inference import bundled

    if spec.source in bundled.BUNDLED:
        return str(bundled.BUNDLED[spec.source].gguf_path())
    return None


def quantization(path: str) -> str:
    """The weight format named in a GGUF file name (`q4_1`, `q4_k_m`), else `gguf`."""
    match = _QUANT_RE.search(path.rsplit("/", 1)[-1])
    return match.group(1).lower() if match else "gguf"


def chat_format(metadata: dict, token_text: Callable[[int], str], override: str | None = None) -> ChatFormat:
    """The chat format from a GGUF's metadata (keys and string values as llama.cpp reports them)."""

    def token(key: str) -> str:
        value = metadata.get(key)
        return token_text(int(value)) if value not in (None, "", "-1") else ""

    return chat_format_for(
        metadata.get("tokenizer.chat_template"),
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
        add_bos=str(metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true",
        override=override,
    )


@functools.lru_cache(maxsize=16)
def chat_format_of_file(path: str, override: str | None = None) -> ChatFormat:
    """The chat format of a GGUF file, read through a vocabulary-only llama.cpp load.

    That takes under a second, where parsing gemma's 262k-token vocabulary with the
    gguf package takes ten; the gguf package is the fallback where llama.cpp is missing.
    """
    if not os.path.exists(path):
        raise EngineError(f"GGUF file not found: {path!r}.")
    try:
        from llama_cpp import Llama, llama_cpp
    except ImportError:
        return _chat_format_parsed(path, override)

    with open_lock:
        llm = Llama(model_path=path, vocab_only=True, verbose=False)
    try:
        vocab = llm._model.vocab

        def token_text(token: int) -> str:
            buf = ctypes.create_string_buffer(256)
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
            return buf.raw[: max(n, 0)].decode("utf-8", errors="replace")

        return chat_format(llm.metadata, token_text, override)
    finally:
        llm.close()


def _chat_format_parsed(path: str, override: str | None) -> ChatFormat:
    """The same, from the file parsed by the gguf package (slow for large vocabularies)."""
    from gguf import GGUFReader  # the gguf package on PyPI, not this module

    reader = GGUFReader(path)
    keys = ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.add_bos_token")
    metadata = {}
    for key in keys:
        field = reader.get_field(key)
        if field is not None:
            value = field.contents()
            metadata[key] = str(value).lower() if isinstance(value, bool) else value
    tokens = reader.get_field("tokenizer.ggml.tokens")
    return chat_format(metadata, lambda index: tokens.contents(index) if tokens is not None else "", override)
