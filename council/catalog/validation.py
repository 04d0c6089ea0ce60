"""The rules a model's configuration must follow: one list of problems for LanguageModel.clean() and the system checks.

`problems(model)` gives each problem as (field, level, id, message): `error` blocks
saving and is a system-check error, `warning` is a note in the admin and a system-check
warning, `note` only shows in the admin. The helpers below return a message a person
can act on, or None when the value is fine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

from inference import BACKENDS, THINKING_DTYPES, is_bundled, option_errors, quantization_error, vllm_available


PATH_IDS = ("council.E001", "council.W002")  # (where this process serves the models, elsewhere)
VLLM_IDS = ("council.E003", "council.W003")


class Problem(NamedTuple):
    field: str
    level: str  # error | warning | note
    id: str  # the system check's id, e.g. council.E001
    message: str


def problems(model) -> list[Problem]:
    """Everything that stops `model` (a LanguageModel) being served as configured, paths first."""
    here = serves_models_here()
    found: list[Problem] = []

    def missing_here(field: str, ids: tuple[str, str], message: str) -> None:
        """A path or package missing on this host: an error where this process serves the models."""
        if here:
            found.append(Problem(field, "error", ids[0], message))
        else:
            found.append(Problem(field, "warning", ids[1],
                                 f"{message} (not on this host: the workers serving queue {model.queue!r} must have it)"))

    if model.backend == "openai":
        if http_url_error(model.source):
            found.append(Problem("source", "error", "council.E004", http_url_error(model.source)))
    elif model.source and not is_bundled(model.source) and missing_path(model.source):
        missing_here("source", PATH_IDS, f"No such file or directory: {missing_path(model.source)}. Give an existing "
                     "local path, a bundled model's slug, or a hub id like org/name.")
    if missing_path(model.gguf_file):
        missing_here("gguf_file", PATH_IDS, f"No such GGUF file: {missing_path(model.gguf_file)}.")
    if model.draft_model and missing_path(model.draft_model):
        missing_here("draft_model", PATH_IDS, f"No such draft model directory: {missing_path(model.draft_model)}.")
    elif model.draft_model:
        draft_error, note = draft_tokenizer_error(model.source, model.draft_model)
        if draft_error:
            found.append(Problem("draft_model", "error", "council.E005", draft_error))
        if note:
            found.append(Problem("draft_model", "note", "", note))
    elif model.speculative_method == "draft":
        found.append(Problem("draft_model", "error", "council.E006", "Speculative method 'draft model' needs a draft model."))

    if backend_error(model.backend):
        found.append(Problem("backend", "error", "council.E002", backend_error(model.backend)))
    elif model.backend == "vllm" and vllm_missing():
        missing_here("backend", VLLM_IDS, "vLLM is not installed in this environment; install it on the GPU workers "
                     "(pip install vllm) or choose another backend.")

    quantization_problem = None if backend_error(model.backend) else quantization_error(model.backend, model.quantization)
    if quantization_problem:
        found.append(Problem("quantization", "error", "council.E010", quantization_problem))
    if model.thinking_dtype and model.thinking_dtype not in THINKING_DTYPES:
        found.append(Problem("thinking_dtype", "error", "council.E007",
                             f"Use one of {', '.join(THINKING_DTYPES)}, or leave it blank."))
    for field, message in token_limit_errors(model):
        found.append(Problem(field, "error", "council.E008", message))
    if not isinstance(model.options, dict):
        found.append(Problem("options", "error", "council.E009", "Options must be a JSON object of name: value."))
    elif not backend_error(model.backend):
        for name, message in option_errors(model.backend or "auto", model.options):
            found.append(Problem("options", "error", "council.E009", message))
    return found


def token_limit_errors(model) -> list[tuple[str, str]]:
    """The answer budget must fit inside the limit, the limit inside the context, and the
    reasoning budget beside the answer budget inside the context."""
    bounds = [
        ("default_max_tokens", "max_tokens_limit"),
        ("max_tokens_limit", "context_length"),
    ]
    errors = []
    for field, bound_field in bounds:
        value, bound = getattr(model, field), getattr(model, bound_field)
        if value is not None and bound is not None and value > bound:
            label = model._meta.get_field(bound_field).verbose_name
            errors.append((field, f"{value} is more than the {label} ({bound}); lower it or raise the {label}."))
    if model.reasoning_max_tokens and model.default_max_tokens and model.context_length:
        room = model.context_length - model.default_max_tokens
        if model.reasoning_max_tokens > room:
            errors.append(("reasoning_max_tokens", f"{model.reasoning_max_tokens} reasoning tokens and the answer budget "
                           f"({model.default_max_tokens}) do not fit the context length ({model.context_length}); "
                           f"use at most {max(room, 0)}."))
    return errors


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
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "The openai backend needs the server's base URL here, starting with http:// or https:// (e.g. http://vllm:8001/v1)."
    if "?" in url or "#" in url or "@" in parsed.netloc:
        # The engine appends /chat/completions: a query or fragment would swallow that path.
        return "Give a base URL without a query (?), fragment (#) or user name (@); the key goes in the API key field."
    return None


def _origin_and_path(url: str) -> tuple[tuple[str, str, int | None], str]:
    parsed = urlparse(url.strip())
    scheme = parsed.scheme.lower()
    try:
        port = parsed.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return (scheme, (parsed.hostname or "").lower(), port), parsed.path.rstrip("/")


def url_allowed(url: str, allowlist) -> bool:
    """True when `url` has the scheme, host and port of an allowlist entry, and its path under the entry's path."""
    origin, path = _origin_and_path(url)
    for entry in allowlist:
        entry_origin, entry_path = _origin_and_path(entry)
        if origin == entry_origin and (path == entry_path or path.startswith(entry_path + "/")):
            return True
    return False


def remote_url_error(user, url: str, allowlist) -> str | None:
    """Why `user` may not point an openai model at `url`, or None.

    A superuser may point anywhere. Other staff only at an allowlisted server
    (COUNCIL_REMOTE_URL_ALLOWLIST); with no allowlist, only superusers choose servers.
    """
    if user is not None and user.is_superuser:
        return None
    if not allowlist:
        return "Only a superuser may point a model at a remote server (COUNCIL_REMOTE_URL_ALLOWLIST names servers staff may choose)."
    if not url_allowed(url, allowlist):
        return f"{url} is not one of the servers in COUNCIL_REMOTE_URL_ALLOWLIST: {', '.join(allowlist)}."
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
