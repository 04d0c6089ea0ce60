"""A word-level diff of two answers, for the page: FAST's against THINKING's."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_WORD = re.compile(r"\s*\S+|\s+$")


@dataclass(frozen=True)
class Segment:
    op: str  # same | fast (only in FAST's answer) | thinking (only in THINKING's)
    text: str  # the words with the whitespace before them
    first: bool = False  # part of the first place where the answers differ


@dataclass(frozen=True)
class WordDiff:
    segments: tuple[Segment, ...]
    first_word: int | None  # 1-based word of FAST's answer where it first differs; None when identical

    @property
    def identical(self) -> bool:
        return self.first_word is None


def words(text: str) -> list[str]:
    """The words of `text`, each with the whitespace before it: joined, they give the text back."""
    return _WORD.findall(text)


def word_diff(fast: str, thinking: str) -> WordDiff:
    """FAST's answer against THINKING's, word by word; whitespace alone is no difference."""
    a, b = words(thinking), words(fast)
    matcher = difflib.SequenceMatcher(None, [w.strip() for w in a], [w.strip() for w in b], autojunk=False)
    segments: list[Segment] = []
    first_word = None
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            segments.append(Segment("same", "".join(b[b0:b1])))
            continue
        first = first_word is None
        if first:
            first_word = b0 + 1
        if a1 > a0:
            segments.append(Segment("thinking", "".join(a[a0:a1]), first))
        if b1 > b0:
            segments.append(Segment("fast", "".join(b[b0:b1]), first))
    return WordDiff(tuple(segments), first_word)
