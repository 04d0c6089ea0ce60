"""Test load and benchmark of one model: run on its queue's worker, stored on the model row.

`measurements` holds {"test_load": {mode: result}, "benchmark": {...}}; each result
carries `at` (ISO time) and either its figures or an `error`.
"""

from __future__ import annotations

import functools
import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from council.background import run_in_background
from inference import EngineError, GenerationRequest, Message, Mode, bench_model, get_engine, is_bundled

log = logging.getLogger(__name__)

TEST_PROMPT = "Say hello in one short sentence."
TEST_MAX_TOKENS = 16
BENCH_MAX_TOKENS = 32
SAMPLE_CHARS = 200
MODES = (Mode.FAST.value, Mode.THINKING.value)


def generate_once(spec, mode: Mode, max_tokens: int, prompt: str = TEST_PROMPT) -> dict:
    """One short greedy generation: figures and the text, or the error a person can act on."""
    started = time.monotonic()
    result: dict = {"at": timezone.now().isoformat()}
    try:
        engine = get_engine(spec, mode)
        result["load_ms"] = round((time.monotonic() - started) * 1000, 1)
        describe = engine.describe() or {}
        request = GenerationRequest(
            request_id=f"catalog-{spec.slug}-{mode.value}-{time.monotonic_ns()}",
            messages=(Message("user", prompt),),
            max_tokens=max_tokens,
            temperature=0.0,
            top_p=1.0,
        )
        parts = []
        terminal = None
        for event in engine.stream(request):
            if event.terminal:
                terminal = event
                break
            parts.append(event.text)
    except EngineError as exc:
        return {**result, "ok": False, "error": str(exc)}
    except Exception as exc:
        log.exception("test generation of %s (%s) failed", spec.slug, mode.value)
        return {**result, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    if terminal is None or terminal.type != "done":
        error = (terminal.error if terminal is not None else None) or "The engine ended without a final event."
        return {**result, "ok": False, "error": error, "detail": terminal.detail if terminal is not None else None}
    metrics = terminal.metrics.as_dict() if terminal.metrics else {}
    return {
        **result,
        "ok": True,
        "ttft_ms": metrics.get("ttft_ms"),
        "decode_tokens_per_s": metrics.get("decode_tokens_per_s"),
        "completion_tokens": metrics.get("completion_tokens"),
        "engine": metrics.get("engine") or describe.get("backend"),
        "quantization": metrics.get("quantization") or describe.get("quantization"),
        "sample": "".join(parts)[:SAMPLE_CHARS],
    }


def _store(model_id, key: str, value: dict, merge: bool) -> None:
    """Merge into the row's measurements under a row lock, so a test load and a benchmark don't clobber each other."""
    from council.catalog.models import LanguageModel

    with transaction.atomic():
        model = LanguageModel.objects.select_for_update().get(pk=model_id)
        measurements = dict(model.measurements or {})
        if merge:
            measurements[key] = {**(measurements.get(key) or {}), **value}
        else:
            measurements[key] = value
        LanguageModel.objects.filter(pk=model_id).update(measurements=measurements, measured_at=timezone.now())


def run_test_load(model_id, modes=MODES) -> dict:
    """A short generation in each of `modes`; results stored under measurements['test_load']."""
    from council.catalog.models import LanguageModel

    spec = LanguageModel.objects.get(pk=model_id).to_spec()
    results = {}
    for mode in modes:
        results[mode] = generate_once(spec, Mode(mode), TEST_MAX_TOKENS)
        _store(model_id, "test_load", {mode: results[mode]}, merge=True)
    return results


def run_benchmark(model_id, max_tokens: int = BENCH_MAX_TOKENS) -> dict:
    """FAST vs THINKING for one model: decode speed per mode, speedup, and the quality cost.

    Bundled models go through the inference bench's `bench_model(slug, max_tokens, repeat, log)`
    (speed over its fixed prompts, perplexity and top-1 agreement under teacher forcing);
    other models get the speed figures only.
    """
    from council.catalog.models import LanguageModel

    spec = LanguageModel.objects.get(pk=model_id).to_spec()
    figures: dict = {"at": timezone.now().isoformat(), "max_tokens": max_tokens}
    if is_bundled(spec.source):
        try:
            rows = bench_model(spec.source, max_tokens=max_tokens, repeat=1, log=log.info)
            figures.update(_from_bench_rows(rows), ok=True, error=None)
        except Exception as exc:
            log.exception("benchmark of %s failed", spec.slug)
            figures.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    else:
        figures.update(_speed_only(spec, max_tokens))
    _store(model_id, "benchmark", figures, merge=False)
    return figures


def _from_bench_rows(rows) -> dict:
    """The bench's rows (one per configuration) as the figures the admin shows."""
    by_config = {row.config: row for row in rows}
    fast, thinking = by_config.get("FAST"), by_config.get("THINKING")
    ngram = by_config.get("FAST+ngram")
    delta = None
    if fast and thinking and fast.perplexity is not None and thinking.perplexity is not None:
        delta = round(fast.perplexity - thinking.perplexity, 3)
    return {
        "fast_decode_tokens_per_s": fast.decode_tokens_per_s if fast else None,
        "thinking_decode_tokens_per_s": thinking.decode_tokens_per_s if thinking else None,
        "fast_ngram_decode_tokens_per_s": ngram.decode_tokens_per_s if ngram else None,
        "speedup": fast.speedup if fast else None,
        "perplexity_delta": delta,
        "ppl_increase_pct": fast.ppl_increase_pct if fast else None,
        "top1_agreement": fast.top1_agreement if fast else None,
    }


def _speed_only(spec, max_tokens: int) -> dict:
    runs = {mode: generate_once(spec, Mode(mode), max_tokens, prompt="Count from one to twenty in words.") for mode in MODES}
    errors = [f"{mode}: {r['error']}" for mode, r in runs.items() if not r["ok"]]
    fast = runs[Mode.FAST.value].get("decode_tokens_per_s")
    thinking = runs[Mode.THINKING.value].get("decode_tokens_per_s")
    return {
        "ok": not errors,
        "error": "; ".join(errors) or None,
        "fast_decode_tokens_per_s": fast,
        "thinking_decode_tokens_per_s": thinking,
        "speedup": round(fast / thinking, 2) if fast and thinking else None,
        "perplexity_delta": None,
        "top1_agreement": None,
        "note": "Speed only: the quality figures come from the inference bench, which measures bundled models.",
    }


@shared_task(name="catalog.test_load", ignore_result=True)
def test_load_task(model_id: int, modes=MODES) -> None:
    run_test_load(model_id, modes=tuple(modes))


@shared_task(name="catalog.benchmark", ignore_result=True)
def benchmark_task(model_id: int, max_tokens: int = BENCH_MAX_TOKENS) -> None:
    run_benchmark(model_id, max_tokens=max_tokens)


JOBS = {"test_load": (run_test_load, test_load_task), "benchmark": (run_benchmark, benchmark_task)}


def enqueue(job: str, model, **options) -> str:
    """Run `job` for `model` on its queue's worker (Celery), or in this process in embedded mode.

    Returns where it went, for the admin's message.
    """
    run, task = JOBS[job]
    if settings.COUNCIL_INPROCESS_TASKS:
        run_in_background(functools.partial(run, model.pk, **options))
        return "this process"
    task.apply_async(args=[model.pk], kwargs=options, queue=model.queue)
    return f"queue {model.queue}"
