"""`manage.py bench_app`: FAST in the product against llama.cpp alone, and columns sharing the cores.

    make bench-app                          # about 10 minutes on 2 cores
    make bench-app ARGS=--quick             # about 2 minutes: SmolLM2 only, greedy, 96 tokens
    manage.py bench_app [--quick] [--json] [--stacks embedded,services] [--samplings greedy,default]
                        [--max-tokens N] [--repeat N]

The same generations, measured three ways in one run, side by side:

- raw: llama-cpp-python's own `create_chat_completion` on the same GGUF file, every core,
  the same prompt, token count and sampling: the reference every figure is a ratio to;
- engine: Council's engines from the registry in this process, one thread per column;
- stack: the whole product, JSON API → task → engine → stored and published → an SSE
  client, on the embedded default (daphne, SQLite, in-process tasks) and on Postgres +
  Redis + a Celery worker (`services`, when DATABASE_URL and REDIS_URL are set). Each
  stack runs in a child process with servers of its own, started fresh.

Shapes: one FAST column; FAST beside THINKING of one model; two models in mode both; 8
concurrent comparisons; and each other column alone (the reference of its share). Both
greedy and the model's default sampling. Per shape: each column's decode tok/s (the
figure the column shows), the aggregate tok/s, TTFT p50/p95 (from the request), each
rate as a ratio to raw llama.cpp of the same model, and for several columns the sum of
shares: Σ (the column's rate while all columns decode ÷ the same column alone).

The bench models have the quality check off: it measures decoding, not the check.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from council.lib import rates

ROOT = Path(settings.BASE_DIR)
SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"
SHORT = {SMOL: "smollm2", GEMMA: "gemma"}
PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


@dataclass(frozen=True)
class Shape:
    name: str
    columns: tuple[tuple[str, str], ...]  # (model slug, mode) of one comparison's columns
    comparisons: int = 1  # that comparison, this many times at once

    @property
    def mode(self) -> str:
        modes = {mode for _, mode in self.columns}
        return modes.pop() if len(modes) == 1 else "both"

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(slug for slug, _ in self.columns))


def plan(quick: bool) -> list[Shape]:
    models = [SMOL] if quick else [SMOL, GEMMA]
    both = tuple((slug, mode) for slug in models for mode in ("fast", "thinking"))
    shapes = [
        Shape("one FAST column", ((SMOL, "fast"),)),
        Shape("FAST beside THINKING", ((SMOL, "fast"), (SMOL, "thinking"))),
    ]
    if not quick:
        shapes.append(Shape("two models, mode both", both))
    n = 4 if quick else 8
    shapes.append(Shape(f"{n} concurrent comparisons", ((SMOL, "fast"),), comparisons=n))
    # Every other column alone: its rate alone is the denominator of its share.
    shapes += [Shape(f"alone: {SHORT[slug]} {mode}", ((slug, mode),)) for slug, mode in both if (slug, mode) != (SMOL, "fast")]
    return shapes


def solo_key(slug: str, mode: str) -> str:
    return "one FAST column" if (slug, mode) == (SMOL, "fast") else f"alone: {SHORT[slug]} {mode}"


def temperature(spec, sampling: str) -> float:
    return 0.0 if sampling == "greedy" else spec.temperature


# -- raw llama.cpp


def run_raw(slug: str, sampling: str, max_tokens: int, cache: dict) -> dict:
    """One generation by llama-cpp-python alone, on every core: decode tok/s and TTFT."""
    from inference import BUNDLED, RawChat

    spec = BUNDLED[slug].spec()
    raw = cache.get(slug) or cache.setdefault(slug, RawChat(spec))
    started = time.time()
    series = raw.series(PROMPT, max_tokens, temperature(spec, sampling), spec.top_p, secrets.randbits(31))
    return _column(slug, "fast", started, series, None)


def _column(slug, mode, started, series, metrics) -> dict:
    """One column's figures; decode tok/s is the column's own figure when the product gave one."""
    measured = (series[-1][1] - series[0][1]) / (series[-1][0] - series[0][0]) if len(series) > 1 and series[-1][0] > series[0][0] else None
    metrics = metrics or {}
    return {
        "model": slug,
        "mode": mode,
        "tokens": metrics.get("completion_tokens") or (series[-1][1] if series else 0),
        "decode_tokens_per_s": metrics.get("decode_tokens_per_s") or measured,
        "ttft_ms": (series[0][0] - started) * 1000 if series else None,
        "threads": metrics.get("threads"),
        "concurrent_streams": metrics.get("concurrent_streams"),
        "series": series,
    }


# -- the engine alone


def run_engine_shape(shape: Shape, sampling: str, max_tokens: int) -> list[dict]:
    """The shape's columns on this process's engines, one thread each, started together."""
    from inference import BUNDLED, GenerationRequest, Message, Mode, get_engine

    jobs = [column for _ in range(shape.comparisons) for column in shape.columns]
    engines = [get_engine(BUNDLED[slug].spec(), Mode(mode)) for slug, mode in jobs]
    start = threading.Barrier(len(jobs))
    results: list[dict | None] = [None] * len(jobs)

    def one(i):
        slug, mode = jobs[i]
        spec = BUNDLED[slug].spec()
        request = GenerationRequest(f"bench-{uuid.uuid4().hex}", (Message("user", PROMPT),), max_tokens=max_tokens,
                                    temperature=temperature(spec, sampling), top_p=spec.top_p)
        start.wait(timeout=60)
        started, series, metrics = time.time(), [], None
        for event in engines[i].stream(request):
            if event.terminal:
                metrics = event.metrics.as_dict() if event.metrics else None
                break
            series.append((time.time(), len(series) + 1))
        results[i] = _column(slug, mode, started, series, metrics)

    _run_threads(one, len(jobs))
    return results


def _run_threads(target, n: int, timeout: float = 900) -> None:
    errors = []

    def guarded(i):
        try:
            target(i)
        except Exception as exc:  # reported below; one failed column must not hang the others
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    if errors:
        raise CommandError(f"{len(errors)} of {n} columns failed; first: {errors[0]!r}")


# -- the whole stack (in a child process: its settings point at that stack's database)


class Stack:
    """daphne (and for `services` a Celery worker) on this process's database, with a bench user."""

    def __init__(self, variant: str, log):
        self.variant = variant
        self.log = log
        self.processes: list[subprocess.Popen] = []

    def __enter__(self):
        from django.contrib.auth import get_user_model

        from council.accounts.models import ApiToken
        from council.catalog.bundled import register_bundled_models
        from council.catalog.models import LanguageModel
        from council.lib.net import free_port, wait_for_port

        if self.variant == "services":
            call_command("ensure_database")
        call_command("migrate", verbosity=0, interactive=False)
        register_bundled_models()
        tag = f"bench-{uuid.uuid4().hex[:6]}"
        self.queue = tag if self.variant == "services" else "cpu"
        self.slugs, self.created = {}, []
        for slug in (SMOL, GEMMA):
            source = LanguageModel.objects.get(slug=slug)
            if self.variant == "services":  # rows of its own on a queue of its own: no other worker takes them
                copy = LanguageModel.objects.get(slug=slug)
                copy.pk, copy.slug, copy.queue = None, f"{tag}-{SHORT[slug]}", self.queue
                copy.quality_check = False
                copy.save()
                self.created.append(copy)
                self.slugs[slug] = copy.slug
            else:
                LanguageModel.objects.filter(pk=source.pk).update(quality_check=False)
                self.slugs[slug] = slug
        self.user = get_user_model().objects.create_user(tag, password=secrets.token_urlsafe(16))
        _, self.token = ApiToken.issue(self.user, "bench")
        env = dict(os.environ, COUNCIL_RATE_LIMIT_PER_MINUTE="100000", COUNCIL_MAX_ACTIVE_RESPONSES="100000",
                   COUNCIL_PRELOAD="false", PYTHONUNBUFFERED="1")
        port = free_port()
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "council.asgi:application"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT))
        if self.variant == "services":
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "council", "worker", "-Q", self.queue, "--pool", "threads",
                 "--concurrency", "8", "-l", "WARNING", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT))
        try:
            wait_for_port(port, self.processes[0])
        except (RuntimeError, TimeoutError) as exc:
            self.__exit__()
            raise CommandError(f"daphne did not start: {exc}") from None
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if hasattr(self, "user"):
            self.user.comparisons.all().delete()
            self.user.delete()
        for model in getattr(self, "created", []):
            model.delete()


def run_stack_shape(api, stack: Stack, shape: Shape, sampling: str, max_tokens: int) -> list[dict]:
    """The shape's comparisons posted at once through the JSON API, each read over SSE."""
    from council.lib.sse import read_events

    body = {"prompt": PROMPT, "models": [stack.slugs[slug] for slug in shape.models], "mode": shape.mode,
            "max_tokens": max_tokens}
    if sampling == "greedy":
        body["temperature"] = 0.0
    start = threading.Barrier(shape.comparisons)
    found: list[list[dict]] = [[] for _ in range(shape.comparisons)]
    back = {v: k for k, v in stack.slugs.items()}

    def one(i):
        start.wait(timeout=60)
        posted = time.time()
        created = api.post("/api/comparisons", json=body)
        if created.status_code != 201:
            raise CommandError(f"POST /api/comparisons: {created.status_code} {created.text[:200]}")
        comparison = created.json()["id"]
        series: dict[str, list] = {}

        def on_event(name, data, received):
            if name == "response.delta":
                live = data.get("live") or {}
                sent = (data.get("timing") or {}).get("sent_at", received)
                series.setdefault(data["response_id"], []).append((sent, live.get("completion_tokens") or 0, received))

        read_events(api, f"/api/comparisons/{comparison}/events", timeout=600, on_event=on_event)
        final = api.get(f"/api/comparisons/{comparison}").json()["responses"]
        for response in final:
            if response["status"] != "done":
                raise CommandError(f"a column ended {response['status']}: {response['error']}")
            points = series.get(response["id"], [])
            column = _column(back.get(response["model"], response["model"]), response["mode"], posted,
                             [(t, n) for t, n, _ in points], response["metrics"])
            column["ttft_ms"] = (points[0][2] - posted) * 1000 if points else None  # as the client saw it
            found[i].append(column)

    _run_threads(one, shape.comparisons)
    return [column for columns in found for column in columns]


def stack_child(variant: str, shapes: list[Shape], samplings: list[str], max_tokens: int, repeat: int, log_path: str) -> dict:
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    out = {}
    with open(log_path, "a") as log, Stack(variant, log) as stack:
        headers = {"Authorization": f"Bearer {stack.token}"}
        with httpx.Client(base_url=stack.url, headers=headers, timeout=600,
                          limits=httpx.Limits(max_connections=64)) as api:
            warm = Shape("warm-up", tuple((slug, mode) for slug in {s for shape in shapes for s in shape.models}
                                          for mode in ("fast", "thinking")))
            run_stack_shape(api, stack, warm, "greedy", 4)  # loads every engine (and converts, once)
            for sampling in samplings:
                for rep in range(repeat):
                    for shape in shapes:
                        _progress(f"[{variant}] {sampling} · {shape.name} · pass {rep + 1}")
                        out.setdefault(f"{sampling}|{shape.name}", []).append(
                            run_stack_shape(api, stack, shape, sampling, max_tokens))
    return out


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- summaries


def summarize(runs: list[list[dict]], raw: dict, alone: dict | None) -> dict:
    """A shape's figures over its passes (median per column position); `alone`: (model, mode) -> rate alone."""
    passes = []
    for columns in runs:
        together = rates.rates_together([c["series"] for c in columns]) if len(columns) > 1 else [None] * len(columns)
        solo = [alone.get((c["model"], c["mode"])) if alone else None for c in columns]
        share = rates.shares(together, solo)
        p50, p95 = rates.percentiles([c["ttft_ms"] for c in columns if c["ttft_ms"] is not None])
        passes.append({
            "columns": [{k: v for k, v in c.items() if k != "series"} | {"rate_together": t, "share": s,
                         "ratio_to_raw": _ratio(c["decode_tokens_per_s"], raw.get(c["model"]))}
                        for c, t, s in zip(columns, together, share)],
            "aggregate_tokens_per_s": rates.aggregate_rate([c["series"] for c in columns]),
            "ttft_p50_ms": p50, "ttft_p95_ms": p95,
            "share_sum": sum(share) if share and all(s is not None for s in share) and len(columns) > 1 else None,
            "share_min": min(share) if share and all(s is not None for s in share) and len(columns) > 1 else None,
        })
    return _median_pass(passes)


def _median_pass(passes: list[dict]) -> dict:
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    first = passes[0]
    columns = []
    for i, column in enumerate(first["columns"]):
        merged = dict(column)
        for key in ("decode_tokens_per_s", "ttft_ms", "rate_together", "share", "ratio_to_raw"):
            merged[key] = med([p["columns"][i][key] for p in passes if i < len(p["columns"])])
        columns.append(merged)
    summary = {"columns": columns, "passes": len(passes)}
    for key in ("aggregate_tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "share_sum", "share_min"):
        summary[key] = med([p[key] for p in passes])
    return summary


def _ratio(value, reference):
    return value / reference if value and reference else None


def _fmt(value, digits=1):
    return "—" if value is None else f"{value:.{digits}f}"


class Command(BaseCommand):
    help = "FAST through the whole product against raw llama.cpp, and columns sharing the cores (see the module doc)."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="SmolLM2 only, greedy, 96 tokens, 4 comparisons")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--stacks", default=None, help="comma list of embedded,services (default: both where possible)")
        parser.add_argument("--samplings", default=None, help="comma list of greedy,default")
        parser.add_argument("--max-tokens", type=int, default=None, help="new tokens per column (default 160; quick 96)")
        parser.add_argument("--repeat", type=int, default=1, help="passes over every shape (medians are printed)")
        parser.add_argument("--log", default=os.devnull, help="file for the servers' and workers' output")
        parser.add_argument("--child-stack", default=None, help=argparse_suppress())
        parser.add_argument("--out", default=None, help=argparse_suppress())

    def handle(self, *args, **options):
        quick = options["quick"]
        shapes = plan(quick)
        samplings = (options["samplings"] or ("greedy" if quick else "greedy,default")).split(",")
        max_tokens = options["max_tokens"] or (96 if quick else 160)
        repeat = options["repeat"]
        if options["child_stack"]:
            result = stack_child(options["child_stack"], shapes, samplings, max_tokens, repeat, options["log"])
            Path(options["out"]).write_text(json.dumps(result))
            return
        services = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
        stacks = (options["stacks"] or ("embedded,services" if services else "embedded")).split(",")
        if "services" in stacks and not services:
            raise CommandError("the services stack needs DATABASE_URL and REDIS_URL (Postgres and Redis)")
        report = {
            "machine": {"platform": platform.platform(), "cores": len(os.sched_getaffinity(0)),
                        "load_before": os.getloadavg()},
            "max_tokens": max_tokens, "repeat": repeat, "samplings": samplings, "ways": ["engine", *stacks],
            "raw": {}, "shapes": {},
        }
        measured: dict[str, dict[str, list]] = {}  # way -> "sampling|shape" -> passes
        llms: dict = {}
        models = list(dict.fromkeys(slug for shape in shapes for slug in shape.models))
        # Warm every engine first (the first THINKING load converts the GGUF once).
        from inference import BUNDLED, Mode, clear_engines, get_engine

        for slug in models:
            for mode in ("fast", "thinking"):
                get_engine(BUNDLED[slug].spec(), Mode(mode))
        for sampling in samplings:
            for slug in models:
                run_raw(slug, sampling, 8, llms)  # warm-up
                report["raw"][f"{sampling}|{slug}"] = statistics.median(
                    run_raw(slug, sampling, max_tokens, llms)["decode_tokens_per_s"] or 0 for _ in range(max(repeat, 2)))
            for rep in range(repeat):
                for shape in shapes:
                    _progress(f"[engine] {sampling} · {shape.name} · pass {rep + 1}")
                    measured.setdefault("engine", {}).setdefault(f"{sampling}|{shape.name}", []).append(
                        run_engine_shape(shape, sampling, max_tokens))
        for llm in llms.values():
            llm.close()
        clear_engines()  # the stacks' processes need the memory and the cores
        for variant in stacks:
            measured[variant] = self._stack(variant, quick, options, samplings, max_tokens, repeat)
        for sampling in samplings:
            raw = {slug: report["raw"][f"{sampling}|{slug}"] for slug in models}
            for way, runs in measured.items():
                alone = {}
                for slug in models:
                    for mode in ("fast", "thinking"):
                        solo = runs.get(f"{sampling}|{solo_key(slug, mode)}")
                        if solo:
                            alone[(slug, mode)] = statistics.median(
                                [c[0]["decode_tokens_per_s"] for c in solo if c[0]["decode_tokens_per_s"]] or [0])
                for shape in shapes:
                    key = f"{sampling}|{shape.name}"
                    if key in runs:
                        report["shapes"].setdefault(key, {})[way] = summarize(runs[key], raw, alone)
        report["machine"]["load_after"] = os.getloadavg()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self._table(report, shapes)

    def _stack(self, variant, quick, options, samplings, max_tokens, repeat) -> dict:
        """Run the stack in a child process whose settings point at that stack's database."""
        workdir = Path(tempfile.mkdtemp(prefix=f"council-bench-{variant}-"))
        env = dict(os.environ)  # the child runs manage.py in ROOT, so ROOT's code is what it imports
        if variant == "embedded":
            env.pop("DATABASE_URL", None)
            env.pop("REDIS_URL", None)
            env["COUNCIL_DATA_DIR"] = str(workdir / "data")
        out = workdir / "result.json"
        command = [sys.executable, "manage.py", "bench_app", "--child-stack", variant, "--out", str(out),
                   "--repeat", str(repeat), "--max-tokens", str(max_tokens), "--samplings", ",".join(samplings),
                   "--log", options["log"]]
        if quick:
            command.append("--quick")
        try:
            run = subprocess.run(command, cwd=ROOT, env=env, timeout=3600)
            if run.returncode != 0:
                raise CommandError(f"the {variant} stack failed (exit {run.returncode}); see --log for its servers")
            return json.loads(out.read_text())
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _table(self, report: dict, shapes: list[Shape]) -> None:
        machine = report["machine"]
        self.stdout.write(f"bench-app · {report['max_tokens']} new tokens · {machine['cores']} cores · "
                          f"{report['repeat']} pass(es), medians · load average before {machine['load_before'][0]:.1f}, "
                          f"after {machine['load_after'][0]:.1f} (other work on the host skews every figure)")
        for sampling in report["samplings"]:
            raws = {k.split("|")[1]: v for k, v in report["raw"].items() if k.startswith(sampling + "|")}
            self.stdout.write("")
            self.stdout.write(f"## {sampling} sampling · raw llama.cpp: "
                              + ", ".join(f"{SHORT[slug]} {_fmt(rate)} tok/s" for slug, rate in raws.items()))
            self.stdout.write("| shape | way | columns: decode tok/s (× raw) | aggregate tok/s | TTFT p50 / p95 ms | Σ shares (min) |")
            self.stdout.write("|---|---|---|---|---|---|")
            for shape in shapes:
                by_way = report["shapes"].get(f"{sampling}|{shape.name}", {})
                for way, summary in by_way.items():
                    columns = ", ".join(
                        f"{SHORT.get(c['model'], c['model'])} {c['mode'][0].upper()} {_fmt(c['decode_tokens_per_s'])}"
                        f" ({_fmt(c['ratio_to_raw'], 2)})" for c in summary["columns"])
                    if len(summary["columns"]) > 4:
                        rates_ = [c["decode_tokens_per_s"] for c in summary["columns"] if c["decode_tokens_per_s"]]
                        columns = (f"{len(summary['columns'])} × {SHORT[shape.columns[0][0]]} F, median "
                                   f"{_fmt(statistics.median(rates_) if rates_ else None)} "
                                   f"({_fmt(statistics.median([c['ratio_to_raw'] for c in summary['columns'] if c['ratio_to_raw']] or [0]), 2)})")
                    shares = "—" if summary["share_sum"] is None else f"{summary['share_sum']:.2f} ({summary['share_min']:.2f})"
                    self.stdout.write(f"| {shape.name} | {way} | {columns} | {_fmt(summary['aggregate_tokens_per_s'])} | "
                                      f"{_fmt(summary['ttft_p50_ms'], 0)} / {_fmt(summary['ttft_p95_ms'], 0)} | {shares} |")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
