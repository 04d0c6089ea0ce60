"""`manage.py bench_pipeline`: what the web stack adds between an engine's token and the client.

Starts a real daphne and a real `celery worker` on this site's Postgres and Redis, runs
the bundled SmolLM2 (llama.cpp, FAST) through the JSON API at 1 and at N concurrent
streams, reads each stream over Server-Sent Events and prints p50 / p95 of:

- token → client: from the moment a delta's first token left the engine to its arrival
  at the client (includes the coalescing wait, by design up to 50 ms);
- publish → client: from the worker's publish to arrival (channel layer, daphne, HTTP);
- TTFT overhead: the client's time to first token minus the engine's own (request,
  transaction, queue, claim, engine lookup, first publish), and at N streams the wait
  in the queue behind the other streams.
"""

import json
import logging
import os
import secrets
import statistics
import threading
import time
import uuid
from pathlib import Path

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from council.accounts.models import ApiToken
from council.catalog.bundled import register_bundled_models
from council.catalog.models import LanguageModel
from council.lib.net import free_port, start_daphne, start_worker, stop
from council.lib.sse import read_events

ROOT = Path(settings.BASE_DIR)
BENCH_PROMPT = "Write a short paragraph about lighthouses."


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p95 (nearest rank), in the unit given."""
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return statistics.median(ordered), p95


def run_stream(api: httpx.Client, slug: str, max_tokens: int) -> dict:
    """One comparison of one model; its latency samples in milliseconds."""
    posted = time.time()
    created = api.post("/api/comparisons", json={"prompt": BENCH_PROMPT, "models": [slug], "max_tokens": max_tokens})
    if created.status_code != 201:
        raise CommandError(f"POST /api/comparisons: {created.status_code} {created.text[:200]}")
    token_to_client, publish_to_client, first_delta = [], [], []

    def on_event(name, data, received):
        if name != "response.delta" or "timing" not in data:
            return
        if not first_delta:
            first_delta.append(received)
        token_to_client.append((received - data["timing"]["first_token_at"]) * 1000)
        publish_to_client.append((received - data["timing"]["sent_at"]) * 1000)

    read_events(api, f"/api/comparisons/{created.json()['id']}/events", timeout=300, on_event=on_event)
    final = api.get(f"/api/comparisons/{created.json()['id']}").json()["responses"][0]
    if final["status"] != "done" or not first_delta:
        raise CommandError(f"a stream ended {final['status']}: {final['error']}")
    engine_ttft = final["metrics"]["ttft_ms"] or 0.0
    return {
        "token_to_client": token_to_client,
        "publish_to_client": publish_to_client,
        "ttft_overhead": [(first_delta[0] - posted) * 1000 - engine_ttft],
    }


class Command(BaseCommand):
    help = "Measure the latency the web stack adds to streamed tokens (needs DATABASE_URL and REDIS_URL)."

    def add_arguments(self, parser):
        parser.add_argument("--streams", type=int, default=30, help="concurrent streams of the loaded run")
        parser.add_argument("--max-tokens", type=int, default=64)
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--log", default=os.devnull, help="file for the server's and worker's output")

    def handle(self, *args, **options):
        if settings.COUNCIL_INPROCESS_TASKS or not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            raise CommandError("bench_pipeline measures the real stack: set DATABASE_URL and REDIS_URL.")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        register_bundled_models()
        source = LanguageModel.objects.get(slug="smollm2-135m-instruct")
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        model = LanguageModel.objects.create(
            slug=queue, name="bench", source=source.source, backend=source.backend, queue=queue, enabled=True,
            context_length=source.context_length, temperature=0.0,
        )
        user = get_user_model().objects.create_user(f"bench-{queue}", password=secrets.token_urlsafe(16))
        _, token = ApiToken.issue(user, "bench")
        env = dict(os.environ, COUNCIL_RATE_LIMIT_PER_MINUTE="100000", COUNCIL_MAX_ACTIVE_RESPONSES="100000")
        port = free_port()
        log = open(options["log"], "w")
        processes = [start_worker(queue, cwd=ROOT, env=env, log=log, concurrency=4, loglevel="WARNING")]
        try:
            try:
                processes.append(start_daphne(port, cwd=ROOT, env=env, log=log))
            except (RuntimeError, TimeoutError) as exc:
                raise CommandError(f"daphne did not start: {exc}") from None
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120,
                              limits=httpx.Limits(max_connections=200)) as api:
                run_stream(api, model.slug, 8)  # warm-up: the worker loads the engine
                figures = {f"{n} stream{'s' if n > 1 else ''}": self._measure(api, model.slug, n, options["max_tokens"])
                           for n in (1, options["streams"])}
        finally:
            for process in processes:
                stop(process)
            user.comparisons.all().delete()
            model.delete()
            user.delete()
        self._report(figures, options["json"])

    def _measure(self, api, slug, streams, max_tokens) -> dict:
        results, errors = [], []

        def one():
            try:
                results.append(run_stream(api, slug, max_tokens))
            except Exception as exc:  # reported below; one failed stream must not hang the others
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        if errors:
            raise CommandError(f"{len(errors)} of {streams} streams failed; first: {errors[0]}")
        merged = {key: [v for r in results for v in r[key]] for key in ("token_to_client", "publish_to_client",
                                                                        "ttft_overhead")}
        return {key: dict(zip(("p50_ms", "p95_ms"), (round(v, 1) for v in percentiles(values))), n=len(values))
                for key, values in merged.items()}

    def _report(self, figures: dict, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(figures, indent=2))
            return
        self.stdout.write(f"{'':12} {'token → client':>22} {'publish → client':>22} {'TTFT overhead':>22}")
        self.stdout.write(f"{'':12} {'p50 / p95 ms (n)':>22} {'p50 / p95 ms (n)':>22} {'p50 / p95 ms (n)':>22}")
        for label, row in figures.items():
            cells = [f"{row[k]['p50_ms']:.1f} / {row[k]['p95_ms']:.1f} ({row[k]['n']})"
                     for k in ("token_to_client", "publish_to_client", "ttft_overhead")]
            self.stdout.write(f"{label:12} " + " ".join(f"{c:>22}" for c in cells))
