"""Load on loopback, bounded in time: 30 concurrent comparisons × 2 models through the real stack."""

import threading

import httpx

from council.accounts.models import ApiToken
from council.lib.sse import deltas_by_response, read_events
from tests.conftest import _stop, requires_services, start_daphne, start_worker

pytestmark = requires_services

COMPARISONS = 30



def test_thirty_concurrent_comparisons_all_end_with_their_deltas_stored(alice, bundled, worker_queue, tmp_path):
    for model in bundled.values():
        model.queue = worker_queue
        model.save()
    limits = {"COUNCIL_RATE_LIMIT_PER_MINUTE": "1000", "COUNCIL_MAX_ACTIVE_RESPONSES": "1000"}
    worker = start_worker(worker_queue, tmp_path / "worker.log")
    server, url = start_daphne(tmp_path / "daphne.log", **limits)
    _, token = ApiToken.issue(alice, "load")
    results, errors = {}, []

    def one(i, api):
        try:
            created = api.post("/api/comparisons", json={
                "prompt": f"Give me a word that rhymes with number {i}.", "models": list(bundled), "max_tokens": 8,
            })
            assert created.status_code == 201, created.text
            cid = created.json()["id"]
            events = read_events(api, f"/api/comparisons/{cid}/events", timeout=240)
            results[cid] = (events, api.get(f"/api/comparisons/{cid}").json())
        except Exception as exc:  # collected and reported: one failure must not hang the rest
            errors.append(repr(exc))

    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                          limits=httpx.Limits(max_connections=2 * COMPARISONS)) as api:
            threads = [threading.Thread(target=one, args=(i, api)) for i in range(COMPARISONS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
    finally:
        _stop(server)
        _stop(worker)

    assert not errors, errors[:3]
    assert len(results) == COMPARISONS
    for events, final in results.values():
        texts = deltas_by_response(events)
        assert len(final["responses"]) == 2
        for response in final["responses"]:
            assert response["status"] in ("done", "failed", "cancelled")
            assert response["status"] == "done", response["error"]
            assert texts.get(response["id"], "") == response["text"]
