"""A comparison as a downloadable file: JSON (the API's shape), Markdown or CSV.

Exports are inert wherever they are opened: a CSV cell never starts a spreadsheet formula,
and model output in the Markdown is fenced, so no renderer runs its HTML.
"""

import csv
import html
import io
import json
import re

from council.comparisons import quality
from council.comparisons.models import Comparison
from council.comparisons.serializers import comparison_json

CSV_METRICS = ("prompt_tokens", "completion_tokens", "ttft_ms", "decode_tokens_per_s", "total_ms",
               "engine", "quantization", "speculation")
CSV_QUALITY = ("top1_agreement", "mean_kl", "mean_logprob", "first_divergence")  # FAST against THINKING
CSV_COLUMNS = ("turn", "prompt", "model", "mode", "status", *CSV_METRICS, *CSV_QUALITY, "text")
CONTENT_TYPES = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}


def to_json(comparison: Comparison) -> str:
    return json.dumps(comparison_json(comparison), indent=2, ensure_ascii=False)


def to_csv(comparison: Comparison) -> str:
    """One row per response of each turn up to this one: its figures, then its text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for number, turn in enumerate(_conversation(comparison), start=1):
        data = comparison_json(turn)
        for r in data["responses"]:
            writer.writerow([_cell(v) for v in (number, data["prompt"], r["model"], r["mode"], r["status"],
                                                *(r["metrics"][k] for k in CSV_METRICS),
                                                *((r["quality"] or {}).get(k) for k in CSV_QUALITY), r["text"])])
    return out.getvalue()


def _conversation(comparison: Comparison) -> list[Comparison]:
    """The turns an export covers: this one and those that led to it."""
    return [*comparison.ancestors(), comparison]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """A CSV cell a spreadsheet shows as text: a string that could start a formula gets a leading quote (OWASP)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_markdown(comparison: Comparison) -> str:
    turns = _conversation(comparison)
    lines = [f"# Comparison {turns[0].created_at.isoformat()[:16].replace('T', ' ')}", ""]
    for number, turn in enumerate(turns, start=1):
        lines += _markdown_turn(comparison_json(turn), number if len(turns) > 1 else None)
    return "\n".join(lines).rstrip() + "\n"


def _markdown_turn(data: dict, number: int | None) -> list[str]:
    lines = ["## " + (f"Turn {number}: prompt" if number else "Prompt"), "", _quote(data["prompt"]), ""]
    for r in data["responses"]:
        m = r["metrics"]
        lines += [f"## {r['model']} ({r['mode']}), {r['status']}", ""]
        figures = [f"{m['completion_tokens']} tokens" if m["completion_tokens"] is not None else None,
                   f"TTFT {m['ttft_ms']:.0f} ms" if m["ttft_ms"] is not None else None,
                   f"{m['decode_tokens_per_s']:.1f} tok/s" if m["decode_tokens_per_s"] is not None else None,
                   m["engine"]]
        if any(figures):
            lines += ["*" + " · ".join(f for f in figures if f) + "*", ""]
        if r["quality"]:
            lines += ["*" + quality.summary(r["quality"]) + "*", ""]
        if r["reasoning"]:
            lines += ["<details><summary>Reasoning</summary>", "", _fence(r["reasoning"]), "", "</details>", ""]
        if r["error"]:
            lines += [_quote(f"Error: {r['error']}"), ""]
        if r["text"]:
            lines += [_fence(r["text"]), ""]
    return lines


def _quote(text: str) -> str:
    """A blockquote whose HTML shows as text."""
    return "\n".join("> " + html.escape(line, quote=False) for line in text.splitlines()) or ">"


def _fence(text: str) -> str:
    """Model output as a fenced block: shown as written, never rendered, longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}markdown\n{text}\n{fence}"


FORMATS = [("json", "JSON"), ("md", "Markdown"), ("csv", "CSV")]
RENDERERS = {"json": to_json, "md": to_markdown, "csv": to_csv}
