"""JSON request bodies that a database and an engine can hold, or an error naming the bad field.

Python's `json` accepts what Postgres and the engines cannot: lone surrogate escapes
(`"\\ud800"`) that no encoding can write, NUL characters that a text column refuses,
`NaN` and `Infinity` (not JSON at all), and nesting deep enough to raise RecursionError.
`loads` turns each of these into a `BodyError` whose message names the field, so the API
answers 400 instead of failing later in the database with a 500.
"""

from __future__ import annotations

import json

MAX_DEPTH = 32  # arrays and objects inside one another; the API's own bodies need 3


class BodyError(ValueError):
    """The body cannot be used; the message says why and where."""


def _reject_constant(name: str):
    raise BodyError(f"The request body is not valid JSON: {name} is not a JSON number.")


def loads(raw: bytes, max_depth: int = MAX_DEPTH):
    """The parsed body (None when empty), checked by `check`; BodyError otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    if not text.strip():
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BodyError(f"The request body nests arrays or objects more than {max_depth} deep.") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"The request body is not valid JSON: {exc}.") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
        raise BodyError(f"The request body is not valid JSON: {exc}.") from None
    check(value, max_depth)
    return value


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored or sent to an engine, or None when it can."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate (\\u{ord(text[exc.start]):04x} at character {exc.start}), which is not valid Unicode"
    return None


def check(value, max_depth: int = MAX_DEPTH, root: str = "") -> None:
    """BodyError for the first string (or key) that cannot be stored, or nesting beyond `max_depth`.

    Fields are named as a client wrote them: `prompt`, `models[1]`, `items[0].expect`.
    Walks with an explicit stack, so any depth json.loads returned is safe to check.
    """
    stack = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise BodyError(f"{path or 'The request body'} {problem}.")
        elif isinstance(item, (list, dict)):
            if depth >= max_depth:
                raise BodyError(
                    f"{path or 'The request body'} nests arrays or objects more than {max_depth} deep."
                )
            if isinstance(item, list):
                stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
            else:
                for key, child in item.items():
                    problem = text_problem(key)
                    if problem:
                        raise BodyError(f"A key in {path or 'the request body'} {problem}.")
                    stack.append((child, f"{path}.{key}" if path else key, depth + 1))
