"""FAST against THINKING: speed and quality, measured on this machine.

    python -m inference bench [--json] [--models SLUG ...] [--max-tokens N] [--repeat N] [--answer-tokens N]

For each model, greedy generations of the fixed prompts in inference/data/prompts.json
under each configuration:

- THINKING: the torch engine at full precision (fp32 on CPU, bf16 on CUDA);
- FAST: the llama.cpp engine on the GGUF file, speculation off (the CPU default);
- FAST+ngram: the same with prompt-lookup speculation (greedy-exact, so same text);
- raw llama.cpp: llama-cpp-python's own `create_completion` on the same file and
  prompt ids, with no Council code around it: what the engine costs over the library.

Speed is the median over prompts and repeats of decode tokens/s (prefill excluded) and
time to first token. Quality is measured under teacher forcing on the held-out text in
inference/data/heldout.txt: perplexity of each weight format, and how often FAST's top-1
token equals THINKING's. Speculation does not change the text, so FAST+ngram shares
FAST's quality figures.

At the answer level, the questions in inference/data/questions.json (each with a regular
expression its answer must match) are answered greedily in both modes: accuracy per
mode, the share of FAST answers identical to THINKING's, and the top-1 agreement of
FAST's answers under THINKING's weights (the check every FAST answer gets in the site).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from inference.types import GenerationRequest, Message, Mode

DATA = Path(__file__).parent / "data"
TARGETS = {"fast_speedup": 4.0, "ppl_increase_pct": 1.0, "top1_agreement": 0.95, "raw_gap_pct": 10.0}


@dataclass
class Row:
    model: str
    config: str
    engine: str
    weights: str
    decode_tokens_per_s: float | None = None
    ttft_ms: float | None = None
    completion_tokens: int = 0
    speedup: float | None = None
    perplexity: float | None = None
    ppl_increase_pct: float | None = None
    top1_agreement: float | None = None
    acceptance_rate: float | None = None
    accuracy: float | None = None  # share of questions answered as expected
    identical: float | None = None  # FAST: share of answers word for word THINKING's
    answer_top1: float | None = None  # FAST: mean top-1 agreement of its answers under THINKING
    runs: list[dict] = field(default_factory=list)


def prompts() -> list[dict]:
    return json.loads((DATA / "prompts.json").read_text())


def questions() -> list[dict]:
    return json.loads((DATA / "questions.json").read_text())


def is_correct(answer: str, expect: str) -> bool:
    """Whether an answer matches its question's expected regular expression (case-insensitive)."""
    import re

    return re.search(expect, answer, re.IGNORECASE) is not None


def question_request(item: dict, max_tokens: int, completion: bool) -> GenerationRequest:
    """A greedy request for one question; a base model gets a Question/Answer line to continue."""
    if completion:
        messages, stop = (Message("user", f"Question: {item['question']}\nAnswer:"),), ("\n",)
    else:
        messages, stop = (Message("user", item["question"]),), ()
    return GenerationRequest(f"question-{item['id']}", messages, max_tokens=max_tokens, temperature=0.0, stop=stop)


def answer_text(engine, request: GenerationRequest) -> str:
    """The answer text of one generation (reasoning left out)."""
    parts = []
    for event in engine.stream(request):
        if event.type == "delta" and event.kind.value == "answer":
            parts.append(event.text)
        elif event.terminal and event.type != "done":
            raise RuntimeError(f"bench generation failed: {event.error}")
    return "".join(parts)


def answer_level(thinking, fast, max_tokens: int, completion: bool, log) -> dict:
    """Accuracy per mode, identical answers, and FAST's answers scored under THINKING."""
    from inference import quality

    items = questions()
    right = {"THINKING": 0, "FAST": 0}
    identical = 0
    top1 = []
    for item in items:
        req = question_request(item, max_tokens, completion)
        answers = {"THINKING": answer_text(thinking, req), "FAST": answer_text(fast, req)}
        for mode, text in answers.items():
            right[mode] += is_correct(text, item["expect"])
        identical += answers["FAST"].strip() == answers["THINKING"].strip()
        scored = quality.measure(fast, thinking, req.messages, answers["FAST"])
        if scored.tokens:
            top1.append(scored.top1_agreement)
        log(f"  {item['id']}: THINKING {answers['THINKING'].strip()[:40]!r} | FAST {answers['FAST'].strip()[:40]!r}")
    n = len(items)
    return {
        "THINKING": round(right["THINKING"] / n, 3),
        "FAST": round(right["FAST"] / n, 3),
        "identical": round(identical / n, 3),
        "answer_top1": round(statistics.mean(top1), 4) if top1 else None,
        "questions": n,
    }


def heldout_text() -> str:
    return (DATA / "heldout.txt").read_text()


def requests(max_tokens: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            request_id=f"bench-{p['id']}",
            messages=((Message("system", p["system"]),) if p.get("system") else ()) + (Message("user", p["prompt"]),),
            max_tokens=max_tokens,
            temperature=0.0,
        )
        for p in prompts()
    ]


def run_engine(engine, req: GenerationRequest) -> dict:
    """Metrics of one greedy generation."""
    *_, last = engine.stream(req)
    if last.type != "done":
        raise RuntimeError(f"bench generation failed: {last.error}")
    return last.metrics.as_dict()


def raw_llamacpp(path: str, n_ctx: int):
    """llama-cpp-python with no Council code: create_completion(stream=True) on token ids."""
    from inference.engines.llamacpp import open_llama

    llm = open_llama(path, n_ctx=n_ctx)

    def run(ids: list[int], max_tokens: int) -> dict:
        started = time.perf_counter()
        first = last = None
        count = 0
        for chunk in llm.create_completion(ids, max_tokens=max_tokens, temperature=0.0, top_k=0, min_p=0.0, stream=True):
            if chunk["choices"][0].get("finish_reason") is not None and not chunk["choices"][0]["text"]:
                break  # the closing chunk carries no token
            now = time.perf_counter()
            if first is None:
                first = now
            last = now
            count += 1
        decode_s = (last - first) if first is not None else 0
        return {
            "completion_tokens": count,
            "ttft_ms": (first - started) * 1000 if first else None,
            "decode_tokens_per_s": (count - 1) / decode_s if count > 1 and decode_s > 0 else None,
        }

    return run


class RawChat:
    """llama-cpp-python alone on a model's GGUF file, every core: the reference `make bench-app` divides by.

    Its own `create_chat_completion` where the file has a chat template; for a base model
    with none, `create_completion` on the prompt as the engines render it.
    """

    def __init__(self, spec) -> None:
        from llama_cpp import Llama

        from inference import gguf
        from inference.engines import llamacpp

        cores = len(os.sched_getaffinity(0))
        self.path = gguf.path_for(spec)
        self.spec = spec
        with gguf.open_lock:
            self.llm = Llama(model_path=self.path, n_ctx=spec.context_length, n_threads=cores, n_threads_batch=cores,
                             flash_attn=llamacpp.FLASH_ATTENTION, verbose=False)

    def series(self, prompt: str, max_tokens: int, temperature: float, top_p: float, seed: int) -> list[tuple[float, int]]:
        """[(time.time(), tokens so far)] for each streamed token of one generation."""
        from inference import gguf

        kwargs = dict(max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=0, min_p=0.0,
                      repeat_penalty=1.0, stream=True, seed=seed)
        if self.llm.metadata.get("tokenizer.chat_template"):
            chunks = self.llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], **kwargs)
            text = lambda chunk: chunk["choices"][0]["delta"].get("content")  # noqa: E731
        else:
            rendered = gguf.chat_format_of_file(self.path, self.spec.chat_template).render((Message("user", prompt),))
            chunks = self.llm.create_completion(rendered, **kwargs)
            text = lambda chunk: chunk["choices"][0]["text"]  # noqa: E731
        series = []
        for chunk in chunks:
            if text(chunk):
                series.append((time.time(), len(series) + 1))
        return series

    def close(self) -> None:
        self.llm.close()


def llamacpp_logits(path: str, ids: list[int]):
    """Logits after every position of `ids` from llama.cpp (teacher forcing).  # [T, V]"""
    import numpy as np

    from inference.engines.llamacpp import open_llama

    llm = open_llama(path, n_ctx=len(ids) + 8, logits_all=True)
    llm.eval(ids)
    scores = np.array(llm.scores[: len(ids)], dtype=np.float32)
    llm.close()
    return scores


def perplexity(logits, ids: list[int]) -> float:
    """exp(mean negative log-likelihood of ids[1:] under logits[:-1]).  # logits: [T, V]"""
    import numpy as np

    x = np.asarray(logits[:-1], dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(ids) - 1), ids[1:]]
    return float(math.exp(nll.mean()))


def top1_agreement(a, b) -> float:
    """Share of positions where both models' argmax tokens agree.  # a, b: [T, V]"""
    import numpy as np

    return float((np.asarray(a).argmax(axis=1) == np.asarray(b).argmax(axis=1)).mean())


def summarize(row: Row) -> Row:
    speeds = [r["decode_tokens_per_s"] for r in row.runs if r.get("decode_tokens_per_s")]
    ttfts = [r["ttft_ms"] for r in row.runs if r.get("ttft_ms")]
    row.decode_tokens_per_s = round(statistics.median(speeds), 1) if speeds else None
    row.ttft_ms = round(statistics.median(ttfts), 1) if ttfts else None
    row.completion_tokens = sum(r.get("completion_tokens") or 0 for r in row.runs)
    drafted = sum(r.get("draft_tokens") or 0 for r in row.runs)
    if drafted:
        row.acceptance_rate = round(sum(r.get("accepted_tokens") or 0 for r in row.runs) / drafted, 3)
    return row


# For a base model (no chat template of its own), a transcript answer is a line or two;
# decode speed is measured on story continuations instead, the same for every config.
COMPLETION_TEMPLATE = "{{ bos_token }}{{ messages[-1]['content'] }}"


def bench_model(slug: str, max_tokens: int, repeat: int, log, answer_tokens: int = 0) -> list[Row]:
    from dataclasses import replace

    from inference import bundled, gguf
    from inference.engines import llamacpp, torch as torch_engine
    from inference.plan import resolve

    spec = bundled.get(slug).spec()
    completion = bool(gguf.chat_format_of_file(spec.gguf_file).stop_strings)
    if completion:
        spec = replace(spec, chat_template=COMPLETION_TEMPLATE)
        reqs = [
            GenerationRequest(f"bench-{p['id']}", (Message("user", p["continuation"]),), max_tokens=max_tokens)
            for p in prompts()
        ]
    else:
        reqs = requests(max_tokens)

    log(f"[{slug}] loading THINKING (torch; the first run de-quantizes the GGUF), FAST, FAST+ngram, raw llama.cpp")
    thinking_plan = resolve(spec, Mode.THINKING)
    fast_plan = resolve(spec, Mode.FAST, "cpu")
    ngram_spec = replace(spec, speculative_method="ngram")
    fast = llamacpp.load(spec, fast_plan)
    engines = {
        "THINKING": torch_engine.load(spec, thinking_plan),
        "FAST": fast,
        "FAST+ngram": llamacpp.load(ngram_spec, resolve(ngram_spec, Mode.FAST, "cpu")),
    }
    raw = raw_llamacpp(fast.path, spec.context_length)
    rows = {
        "THINKING": Row(slug, "THINKING", "torch", thinking_plan.dtype),
        "FAST": Row(slug, "FAST", "llamacpp", fast_plan.quantization),
        "FAST+ngram": Row(slug, "FAST+ngram", "llamacpp", fast_plan.quantization),
        "raw llama.cpp": Row(slug, "raw llama.cpp", "llama-cpp-python", fast_plan.quantization),
    }
    prompt_ids = [fast.tokenize_prompt(fast.chat.render(r.messages)) for r in reqs]
    warm = replace(reqs[0], max_tokens=8, messages=(Message("user", "Hello"),))
    for engine in engines.values():
        run_engine(engine, warm)
    raw(fast.tokenize_prompt(fast.chat.render(warm.messages)), 8)

    # Round-robin, so that a burst of load from elsewhere hits every config alike.
    for rep in range(repeat):
        for req, ids in zip(reqs, prompt_ids):
            log(f"[{slug}] pass {rep + 1}/{repeat}, prompt {req.request_id}")
            for name, engine in engines.items():
                rows[name].runs.append(run_engine(engine, req))
            rows["raw llama.cpp"].runs.append(raw(ids, max_tokens))

    log(f"[{slug}] quality: teacher forcing on the held-out text")
    ids = fast.llm.tokenize(heldout_text().encode(), add_bos=fast.chat.add_bos, special=False)
    reference = engines["THINKING"].logits(ids).numpy()
    quantized = llamacpp_logits(fast.path, ids)
    ppl_ref, ppl_q = perplexity(reference, ids), perplexity(quantized, ids)
    agreement = top1_agreement(reference, quantized)

    log(f"[{slug}] answers: {len(questions())} questions, greedy, in both modes")
    answers = answer_level(engines["THINKING"], fast, answer_tokens, completion, log) if answer_tokens else None
    if answers:
        rows["THINKING"].accuracy = answers["THINKING"]
        for name in ("FAST", "FAST+ngram"):  # speculation is greedy-exact: the same answers
            rows[name].accuracy = answers["FAST"]
            rows[name].identical = answers["identical"]
            rows[name].answer_top1 = answers["answer_top1"]

    out = list(rows.values())
    for row in out:
        summarize(row)
        if row.config == "THINKING":
            row.perplexity = round(ppl_ref, 3)
        else:
            row.perplexity = round(ppl_q, 3)
            row.ppl_increase_pct = round((ppl_q / ppl_ref - 1) * 100, 2)
            row.top1_agreement = round(agreement, 4)
    base = out[0].decode_tokens_per_s
    for row in out:
        if base and row.decode_tokens_per_s:
            row.speedup = round(row.decode_tokens_per_s / base, 2)
    return out


def verdicts(rows: list[Row]) -> list[str]:
    """The issue's targets, checked per model."""
    lines = []
    for model in dict.fromkeys(r.model for r in rows):
        by = {r.config: r for r in rows if r.model == model}
        fast, raw = by.get("FAST"), by.get("raw llama.cpp")
        if not fast:
            continue
        checks = [
            ("FAST decode >= 4x THINKING", fast.speedup, fast.speedup is not None and fast.speedup >= TARGETS["fast_speedup"]),
            ("perplexity increase <= 1%", fast.ppl_increase_pct, fast.ppl_increase_pct is not None and fast.ppl_increase_pct <= TARGETS["ppl_increase_pct"]),
            ("top-1 agreement >= 0.95", fast.top1_agreement, fast.top1_agreement is not None and fast.top1_agreement >= TARGETS["top1_agreement"]),
        ]
        if raw and raw.decode_tokens_per_s and fast.decode_tokens_per_s:
            gap = round((1 - fast.decode_tokens_per_s / raw.decode_tokens_per_s) * 100, 1)
            checks.append(("FAST within 10% of raw llama.cpp (gap %)", gap, gap <= TARGETS["raw_gap_pct"]))
        for name, value, ok in checks:
            lines.append(f"{model}: {name}: {value} -> {'PASS' if ok else 'MISS'}")
    return lines


def table(rows: list[Row]) -> str:
    header = ["model", "config", "engine", "weights", "decode tok/s", "ttft ms", "speedup", "ppl", "Δppl %", "top-1",
              "accept", "accuracy", "identical", "answer top-1"]

    def fmt(v):
        return "—" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        values = [r.model, r.config, r.engine, r.weights, r.decode_tokens_per_s, r.ttft_ms, r.speedup,
                  r.perplexity, r.ppl_increase_pct, r.top1_agreement, r.acceptance_rate, r.accuracy, r.identical,
                  r.answer_top1]
        lines.append("| " + " | ".join(fmt(v) for v in values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from inference import bundled
    from inference.engines.llamacpp import default_threads

    parser = argparse.ArgumentParser(prog="python -m inference bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(bundled.BUNDLED), help="bundled model slugs")
    parser.add_argument("--max-tokens", type=int, default=200, help="new tokens per generation (default 200)")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the prompt set (default 2)")
    parser.add_argument("--answer-tokens", type=int, default=48,
                        help="new tokens per question of the answer-level check (default 48; 0 skips it)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    def log(message):
        if not args.json:
            print(message, flush=True)

    load_before = os.getloadavg()
    rows: list[Row] = []
    for slug in args.models:
        rows += bench_model(slug, args.max_tokens, args.repeat, log, args.answer_tokens)
    if args.json:
        print(json.dumps({
            "machine": {"platform": platform.platform(), "threads": default_threads(), "load_before": load_before,
                        "load_after": os.getloadavg()},
            "max_tokens": args.max_tokens,
            "repeat": args.repeat,
            "targets": TARGETS,
            "rows": [{k: v for k, v in r.__dict__.items() if k != "runs"} for r in rows],
            "verdicts": verdicts(rows),
        }, indent=2))
    else:
        print()
        print(table(rows))
        print()
        print("\n".join(verdicts(rows)))
        print(f"\nload average before/after: {load_before} / {os.getloadavg()} (other work on the host skews speed)")
    return 0
