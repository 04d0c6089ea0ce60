"""Prepared GPU check for the torch engine (issue 3): run it on a CUDA host.

    python scripts/gpu_check.py [--models SLUG ...] [--max-tokens 200] [--bandwidth-gbs N]

Prints, per bundled model:
- decode tokens/s at batch 1 for THINKING (torch bf16) and FAST (torchao int8
  weight-only + prompt-lookup speculation + static cache + torch.compile);
- the memory-bandwidth floor: a decode step must read every weight once, so
  tokens/s can be at most bandwidth / weight bytes; the figure is the achieved share of
  that (issue target: at least 50%);
- quality against CPU fp32 under teacher forcing on inference/data/heldout.txt:
  perplexity of each CUDA configuration and top-1 agreement with CPU fp32;
- whether CUDA greedy output equals CPU fp32 greedy output (bf16 may diverge late;
  the first divergence index is printed).

Not run in the session that wrote it (no GPU there); the figures in docs/inference.md
are CPU figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Peak HBM bandwidth in GB/s by device name fragment (vendor data sheets).
PEAK_GBS = {"H200": 4800, "H100 SXM": 3350, "H100 NVL": 3900, "H100 PCIe": 2000, "H100": 3350, "A100": 2039, "L4": 300, "A10": 600}


def peak_bandwidth_gbs(name: str) -> float | None:
    for key, gbs in PEAK_GBS.items():
        if key in name:
            return gbs
    return None


def decode_speed(engine, requests) -> tuple[float, list[str]]:
    list(engine.stream(requests[0]))  # warm-up: compiles and captures graphs
    speeds, texts = [], []
    for req in requests:
        events = list(engine.stream(req))
        last = events[-1]
        assert last.type == "done", last.error
        speeds.append(last.metrics.decode_tokens_per_s or 0.0)
        texts.append("".join(e.text for e in events if e.type == "delta"))
    return statistics.median(speeds), texts


def first_divergence(a: str, b: str) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def main(argv=None) -> int:
    import torch

    from inference import bench, bundled
    from inference.engines.torch import TorchEngine
    from inference.plan import resolve
    from inference.types import Mode

    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=list(bundled.BUNDLED))
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--bandwidth-gbs", type=float, default=None, help="peak memory bandwidth, if not in the table")
    args = parser.parse_args(argv)

    if not torch.cuda.is_available():
        print("no CUDA device: this script needs a GPU", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(0)
    bandwidth = args.bandwidth_gbs or peak_bandwidth_gbs(name)
    print(f"device: {name}; peak bandwidth: {bandwidth} GB/s; torch {torch.__version__}")
    requests = bench.requests(args.max_tokens)
    text = bench.heldout_text()

    for slug in args.models:
        spec = bundled.get(slug).spec()
        cpu = TorchEngine(spec, resolve(spec, Mode.THINKING, "cpu"))
        ids = cpu.tokenize_prompt(text)  # BOS first where the model wants one, as in the bench
        ref_logits = cpu.logits(ids).numpy()
        ref_ppl = bench.perplexity(ref_logits, ids)
        _, cpu_texts = decode_speed(cpu, requests[:1])
        print(f"\n[{slug}] CPU fp32 perplexity {ref_ppl:.3f}")

        torch_spec = replace(spec, backend="torch")
        for label, mode in (("THINKING bf16", Mode.THINKING), ("FAST int8wo+ngram+compile", Mode.FAST)):
            engine = TorchEngine(torch_spec, resolve(torch_spec, mode, "cuda"))
            weight_bytes = engine.approx_bytes()
            tok_s, texts = decode_speed(engine, requests)
            logits = engine.logits(ids).numpy()
            line = f"[{slug}] {label}: {tok_s:.1f} tok/s decode, weights {weight_bytes / 1e6:.0f} MB"
            if bandwidth:
                floor = bandwidth * 1e9 / weight_bytes
                line += f", bandwidth floor {floor:.0f} tok/s -> {100 * tok_s / floor:.0f}% of floor"
            line += (
                f"; ppl {bench.perplexity(logits, ids):.3f} (CPU fp32 {ref_ppl:.3f}),"
                f" top-1 agreement with CPU fp32 {bench.top1_agreement(ref_logits, logits):.4f}"
            )
            print(line)
            print(f"  describe: {engine.describe()}")
            print(f"  greedy text vs CPU fp32: first divergence at char {first_divergence(cpu_texts[0], texts[0])}")
            del engine
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
