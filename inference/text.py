"""Streaming text helpers shared by every local engine.

Incremental detokenization that never splits a UTF-8 character, stop strings, the
`<think>` splitter, and chat-template rendering. Pure Python, no torch: each piece is
tested alone, and every engine uses the same ones so their output agrees.
"""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable, Sequence

from inference.types import DeltaKind, Message

# Tokens that end an assistant turn in the common chat formats. Those that exist in a
# model's vocabulary stop generation, besides the model's own end-of-sequence token.
END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "</s>",
    "<eos>",
)

# Council's template for models that ship none, such as the bundled gemma-3-270m (a
# base model). A plain transcript, cut at the next "User:" line: measured on gemma-3-270m
# it answers short questions where Gemma's <start_of_turn> format, which only the
# instruction-tuned Gemma learned, made it loop on the question.
PLAIN_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}{{ messages[0]['content'] | trim + '\n\n' }}"
    "{%- else -%}{{ 'The following is a conversation with a helpful assistant.\n\n' }}{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ 'User: ' + message['content'] | trim + '\n' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'Assistant: ' + message['content'] | trim + '\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
PLAIN_STOP_STRINGS = ("\nUser:", "\nAssistant:")


class Utf8Stream:
    """Bytes in, text out: holds back an incomplete UTF-8 sequence until it completes.

    For engines that give each token's bytes (llama.cpp's token pieces): a character
    split over two byte-fallback tokens comes out whole, in the later delta.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class IncrementalDetokenizer:
    """Token ids in, text deltas out, for tokenizers that only decode whole sequences.

    Decodes a short window of recent tokens twice (with and without the new ones) and
    emits the difference, holding it back while it ends in U+FFFD (a character still
    incomplete). Decoding a window, not single tokens, keeps the spaces that
    SentencePiece and byte-level BPE attach to the next word. This is the scheme of
    vLLM and text-generation-inference.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # start of the window
        self._read = 0  # end of what has been emitted

    def feed(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """What is still held back, at the end of the stream (a broken char becomes U+FFFD)."""
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :]


class StopMatcher:
    """Cuts the stream at the first stop string, holding back text that may begin one."""

    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The text that is safe to emit now; sets `stopped` when a stop string appeared."""
        if self.stopped:
            return ""
        buf = self._held + text
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.stopped = True
            self._held = ""
            return buf[: min(hits)]
        keep = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(buf)), keep, -1):
                if buf.endswith(stop[:k]):
                    keep = k
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return "" if self.stopped else held


class ThinkSplitter:
    """Splits `<think>...</think>` out of the stream as reasoning; the rest is the answer.

    Tags may arrive split across deltas; a partial tag is held back until it resolves.
    `in_reasoning` starts true when the prompt itself opened the think block (templates
    that end the generation prompt with `<think>`).
    """

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self, in_reasoning: bool = False, strip_start: bool = False) -> None:
        self.in_reasoning = in_reasoning
        self._held = ""
        self._strip_next = strip_start  # also drops the blank line a model puts after </think>

    def feed(self, text: str) -> list[tuple[DeltaKind, str]]:
        out: list[tuple[DeltaKind, str]] = []
        buf = self._held + text
        self._held = ""
        while buf:
            tag = self.CLOSE if self.in_reasoning else self.OPEN
            kind = DeltaKind.REASONING if self.in_reasoning else DeltaKind.ANSWER
            i = buf.find(tag)
            if i >= 0:
                self._emit(out, kind, buf[:i])
                buf = buf[i + len(tag) :]
                self.in_reasoning = not self.in_reasoning
                self._strip_next = True
                continue
            keep = next((k for k in range(min(len(tag) - 1, len(buf)), 0, -1) if buf.endswith(tag[:k])), 0)
            self._emit(out, kind, buf[: len(buf) - keep])
            self._held = buf[len(buf) - keep :]
            break
        return out

    def flush(self) -> list[tuple[DeltaKind, str]]:
        out: list[tuple[DeltaKind, str]] = []
        held, self._held = self._held, ""
        self._emit(out, DeltaKind.REASONING if self.in_reasoning else DeltaKind.ANSWER, held)
        return out

    def _emit(self, out: list, kind: DeltaKind, text: str) -> None:
        if self._strip_next:
            text = text.lstrip()
            if not text:
                return
            self._strip_next = False
        if text:
            if out and out[-1][0] == kind:
                out[-1] = (kind, out[-1][1] + text)
            else:
                out.append((kind, text))


@dataclass(frozen=True)
class ChatFormat:
    """How a model's conversation becomes its prompt: one per model, shared by all engines."""

    template: str
    bos_token: str = ""
    eos_token: str = ""
    add_bos: bool = False  # the tokenizer adds BOS itself when the template does not
    stop_strings: tuple[str, ...] = ()  # besides end-of-turn tokens (plain transcript)
    strip_leading_space: bool = False  # the transcript's "Assistant:" leaves " The ..."

    def render(self, messages: Sequence[Message], *, reasoning: bool = False) -> str:
        """The prompt text for `messages`, ending with the assistant's generation prompt."""
        return render_chat_template(
            self.template,
            messages,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            enable_thinking=reasoning,
        )

    def needs_bos(self, prompt: str) -> bool:
        """Whether the engine must put a BOS token id before the tokenized prompt."""
        return bool(self.add_bos and self.bos_token and not prompt.startswith(self.bos_token))

    @property
    def supports_reasoning(self) -> bool:
        return "enable_thinking" in self.template or "<think>" in self.template


def opens_reasoning(prompt: str) -> bool:
    """Whether the rendered prompt leaves the model inside an open `<think>` block."""
    tail = prompt.rstrip()
    return tail.endswith(ThinkSplitter.OPEN)


def chat_format_for(
    template: str | None,
    *,
    bos_token: str,
    eos_token: str,
    add_bos: bool,
    override: str | None = None,
) -> ChatFormat:
    """The chat format from `override`, else the model's own template, else Council's."""
    chosen = override or template
    if chosen:
        return ChatFormat(chosen, bos_token, eos_token, add_bos)
    return ChatFormat(PLAIN_CHAT_TEMPLATE, bos_token, eos_token, add_bos, PLAIN_STOP_STRINGS, True)


@functools.lru_cache(maxsize=32)
def _compile(template: str):
    from jinja2 import ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise ValueError(f"chat template error: {message}")

    # The settings transformers' apply_chat_template uses, so templates written for
    # Hugging Face models render the same here.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[ext.loopcontrols])
    env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: __import__("json").dumps(
        x, indent=indent, ensure_ascii=ensure_ascii
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat_template(
    template: str,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    enable_thinking: bool = False,
) -> str:
    return _compile(template).render(
        messages=[{"role": m.role, "content": m.content} for m in messages],
        add_generation_prompt=True,
        bos_token=bos_token,
        eos_token=eos_token,
        enable_thinking=enable_thinking,
    )

