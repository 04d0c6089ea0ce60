"""Smoke test of the in-process vLLM engine on a machine with vLLM and a CUDA GPU.

    pip install -e '.[vllm]'
    python scripts/gpu_smoke_vllm.py --model Qwen/Qwen2.5-0.5B-Instruct
    python scripts/gpu_smoke_vllm.py --model /models/Qwen3-8B --reasoning --concurrency 8

Loads the model in FAST (fp8 + n-gram speculation) and THINKING (bf16) in one process,
as a GPU worker does, streams several requests at once through each (they share one
AsyncLLM and are batched), cancels one mid-stream, and prints the figures. Exits 0 with
"SKIP" where vLLM or a GPU is missing (CPU CI), 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engines.vllm import vllm_available  # noqa: E402
from inference.types import GenerationRequest, Message, Mode, ModelSpec  # noqa: E402

PROMPT = (
    "Here is a list: apples, pears, plums, cherries, apricots, peaches. "
    "Repeat the list exactly, then say which fruit has a stone."
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="hub id or model directory")
    parser.add_argument("--modes", default="fast,thinking")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--reasoning", action="store_true", help="the model's template has enable_thinking")
    parser.add_argument("--quantization", default=None, help="FAST quantization (default: the plan's, fp8)")
    parser.add_argument("--draft-model", default=None, help="draft model for FAST speculation")
    parser.add_argument("--gpu-memory-utilization", default="0.4")
    parser.add_argument("--require", action="store_true", help="fail instead of SKIP without vLLM or a GPU")
    return parser.parse_args(argv)


def skip(reason: str, required: bool) -> int:
    print(f"{'FAIL' if required else 'SKIP'}: {reason}")
    return 1 if required else 0


def run_one(engine, request: GenerationRequest, results: dict, cancel_after: int | None = None) -> None:
    text, events = [], []
    for event in engine.stream(request):
        events.append(event)
        if event.type == "delta":
            text.append(event.text)
            if cancel_after is not None and len(text) == cancel_after:
                engine.cancel(request.request_id)
    results[request.request_id] = ("".join(text), events[-1], len(events))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not vllm_available():
        return skip("vLLM is not installed (pip install -e '.[vllm]')", args.require)
    import torch

    if not torch.cuda.is_available():
        return skip("no CUDA GPU visible", args.require)
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")  # what docs/gpu.md prescribes

    from inference.registry import get_engine

    spec = ModelSpec(
        slug=Path(args.model).name.lower(),
        source=args.model,
        backend="vllm",
        supports_reasoning=args.reasoning,
        quantization=args.quantization,
        draft_model=args.draft_model,
        context_length=4096,
        extra=(("gpu_memory_utilization", args.gpu_memory_utilization),),
    )
    print(f"GPU: {torch.cuda.get_device_name(0)}; model {args.model}")
    failures = []
    for mode in (Mode(m.strip()) for m in args.modes.split(",")):
        started = time.perf_counter()
        engine = get_engine(spec, mode)
        print(f"\n[{mode.value}] loaded in {time.perf_counter() - started:.1f}s: {engine.describe()}")

        results: dict = {}
        requests = [
            GenerationRequest(request_id=f"{mode.value}-{i}", messages=(Message("user", PROMPT),),
                              max_tokens=args.max_tokens, temperature=0.0)
            for i in range(args.concurrency)
        ]
        threads = [threading.Thread(target=run_one, args=(engine, r, results)) for r in requests]
        cancelled = GenerationRequest(request_id=f"{mode.value}-cancel", messages=(Message("user", PROMPT),),
                                      max_tokens=args.max_tokens)
        threads.append(threading.Thread(target=run_one, args=(engine, cancelled, results, 3)))
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        wall = time.perf_counter() - wall

        total_tokens = 0
        for r in requests:
            text, end, _ = results.get(r.request_id, ("", None, 0))
            if end is None or end.type != "done":
                failures.append(f"{r.request_id}: {end.type if end else 'no result'} {end.error if end else ''}")
                continue
            m = end.metrics
            total_tokens += m.completion_tokens or 0
            acceptance = (f" drafted={m.draft_tokens} accepted={m.accepted_tokens}"
                          if m.draft_tokens is not None else "")
            print(f"  {r.request_id}: ttft={m.ttft_ms:.0f}ms decode={m.decode_tokens_per_s or 0:.0f} tok/s "
                  f"tokens={m.completion_tokens}{acceptance} | {text[:60]!r}")
        _, end, _ = results.get(cancelled.request_id, ("", None, 0))
        if end is None or end.type != "cancelled":
            failures.append(f"{cancelled.request_id}: expected cancelled, got {end.type if end else 'nothing'}")
        else:
            print(f"  {cancelled.request_id}: cancelled after {end.metrics.completion_tokens} tokens")
        print(f"  {args.concurrency} streams together: {total_tokens / wall:.0f} tok/s aggregate in {wall:.1f}s")

    print("\nFAIL:\n  " + "\n  ".join(failures) if failures else "\nOK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
