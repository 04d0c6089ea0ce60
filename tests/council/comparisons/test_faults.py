"""Faults with real processes: a worker killed mid-answer, Redis restarted mid-stream."""

import shutil
import signal
import subprocess
import time

import httpx
import pytest

from council.accounts.models import ApiToken
from council.comparisons import submission
from council.comparisons.models import Response
from council.comparisons.sweeper import LOST_MESSAGE
from council.lib.sse import read_events
from council.lib.net import free_port
from tests.conftest import _stop, requires_services, start_daphne, start_worker

pytestmark = requires_services


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def response_of(comparison, slug) -> Response:
    return Response.objects.get(comparison=comparison, model__slug=slug)


def test_a_killed_worker_fails_its_column_within_a_minute_while_the_other_finishes(alice, bundled, worker_queue,
                                                                                    tmp_path):
    # gemma is a base model: given a count, it keeps counting until max_tokens.
    doomed, healthy = bundled["gemma-3-270m"], bundled["smollm2-135m-instruct"]
    doomed.queue, healthy.queue = f"{worker_queue}-a", f"{worker_queue}-b"
    doomed.save()
    healthy.save()
    fast_sweep = {"COUNCIL_STALE_SECONDS": "6"}
    worker_a = start_worker(doomed.queue, tmp_path / "a.log", **fast_sweep)
    worker_b = start_worker(healthy.queue, tmp_path / "b.log", **fast_sweep)
    try:
        comparison = submission.create(alice, submission.parse(
            {"prompt": "1, 2, 3, 4, 5, 6,", "models": [doomed.slug], "max_tokens": 1500, "temperature": 0},
            alice,
        ))
        wait_until(lambda: response_of(comparison, doomed.slug).text, 60, "the doomed worker streams")
        assert response_of(comparison, doomed.slug).status == "running"
        worker_a.send_signal(signal.SIGKILL)
        worker_a.wait(timeout=10)
        killed_at = time.monotonic()
        other = submission.create(alice, submission.parse(
            {"prompt": "Say hello.", "models": [healthy.slug], "max_tokens": 16}, alice,
        ))
        failed = wait_until(
            lambda: (r := response_of(comparison, doomed.slug)).status == "failed" and r, 60, "the column fails"
        )
        assert time.monotonic() - killed_at < 60
        assert failed.error == LOST_MESSAGE and failed.text  # the partial answer is kept
        done = wait_until(lambda: (r := response_of(other, healthy.slug)).status == "done" and r, 60, "other finishes")
        assert done.text
    finally:
        _stop(worker_a)
        _stop(worker_b)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_a_redis_restart_mid_stream_loses_no_text(alice, bundled, worker_queue, tmp_path):
    port = free_port()
    redis_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    model = bundled["gemma-3-270m"]  # a base model: it keeps counting
    model.queue = worker_queue
    model.save()
    time.sleep(0.5)
    worker = start_worker(worker_queue, tmp_path / "worker.log", **env)
    server, url = start_daphne(tmp_path / "daphne.log", **env)
    _, token = ApiToken.issue(alice, "t")
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
            created = api.post("/api/comparisons", json={
                "prompt": "1, 2, 3, 4, 5, 6,", "models": [model.slug], "max_tokens": 400, "temperature": 0,
            })
            assert created.status_code == 201, created.text
            comparison_id = created.json()["id"]
            rid = created.json()["responses"][0]["id"]
            wait_until(lambda: Response.objects.get(id=rid).text, 60, "the answer streams")
            redis.send_signal(signal.SIGKILL)
            redis.wait(timeout=10)
            length_at_restart = len(Response.objects.get(id=rid).text)
            time.sleep(1)
            redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
            # A client that connects after the restart gets the text so far, then the end.
            events = read_events(api, f"/api/comparisons/{comparison_id}/events", timeout=60)
            final = api.get(f"/api/comparisons/{comparison_id}").json()["responses"][0]
        assert final["status"] == "done", final["error"]
        snapshot = events[0][1]["responses"][0]
        later = "".join(d["text"] for name, d in events if name == "response.delta")
        assert final["text"].startswith(snapshot["text"])
        assert snapshot["text"] + later == final["text"]  # deltas after the snapshot continue it exactly
        assert len(final["text"]) > length_at_restart  # generation went on through the restart
    finally:
        _stop(server)
        _stop(worker)
        redis.kill()
        redis.wait(timeout=10)
