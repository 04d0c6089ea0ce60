"""Checks of one model's configuration, shared by LanguageModel.clean() and the system checks.

Each function returns a message a person can act on, or None when the value is fine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

from inference import BACKENDS, is_bundled, vllm_available


def looks_like_path(value: str) -> bool:
    """An absolute path, or one that starts with ./ ../ or ~ (a hub id `org/name` is not one)."""
    value = value.strip()
    return value.startswith(("/", "./", "../", "~")) or os.path.isabs(value)


def missing_path(value: str) -> str | None:
    """The expanded path when `value` looks like a local path that does not exist, else None."""
    if not value or not looks_like_path(value):
        return None
    path = Path(value).expanduser()
    return None if path.exists() else str(path)


def backend_error(backend: str) -> str | None:
    if (backend or "auto") not in BACKENDS:
        return f"Unknown backend {backend!r}; use one of {', '.join(BACKENDS)}."
    return None


def http_url_error(url: str) -> str | None:
    parsed = urlparse((url or "").strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "The openai backend needs the server's base URL here, starting with http:// or https:// (e.g. http://vllm:8001/v1)."
    return None


def vllm_missing() -> bool:
    return not vllm_available()


def _vocab(directory: Path) -> dict | None:
    tokenizer = directory / "tokenizer.json"
    if not tokenizer.is_file():
        return None
    try:
        data = json.loads(tokenizer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    vocab = (data.get("model") or {}).get("vocab")
    return vocab if isinstance(vocab, dict) else None


def _local_dir(value: str) -> Path | None:
    if not value:
        return None
    if is_bundled(value):
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def draft_tokenizer_error(source: str, draft: str) -> tuple[str | None, str | None]:
    """(error, note): an error when both tokenizers are readable and differ; a note when it cannot be checked."""
    if not draft:
        return None, None
    target_dir, draft_dir = _local_dir(source), _local_dir(draft)
    if target_dir is None or draft_dir is None:
        return None, (
            "The draft model's tokenizer could not be checked against the model's (that needs both "
            "as local directories with a tokenizer.json); it must use the same tokenizer."
        )
    target_vocab, draft_vocab = _vocab(target_dir), _vocab(draft_dir)
    if target_vocab is None or draft_vocab is None:
        return None, "The tokenizers could not be compared: one of the directories has no readable tokenizer.json."
    if target_vocab != draft_vocab:
        return (
            f"The draft model's tokenizer differs from the model's ({len(draft_vocab)} vs {len(target_vocab)} "
            "tokens, or different ids); speculative decoding needs the same tokenizer.",
            None,
        )
    return None, None


def serves_models_here() -> bool:
    """In embedded mode this process runs the models; with Redis, separate workers do,
    and what is missing on this (web) host may well be on theirs."""
    from django.conf import settings

    return settings.COUNCIL_INPROCESS_TASKS
