"""The newcomer's path: no DATABASE_URL, no REDIS_URL — SQLite, in-process tasks and channel layer."""

import os
import subprocess
import sys

import httpx

from council.lib.net import free_port, wait_for_port
from tests.conftest import ROOT, _stop
from council.lib.sse import read_events


def test_a_fresh_data_dir_serves_a_streaming_comparison_with_no_services(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["COUNCIL_DATA_DIR"] = str(tmp_path)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    token = subprocess.run(
        [*manage, "shell", "-c",
         "from django.contrib.auth.models import User; from council.accounts.models import ApiToken;"
         # The quality check would convert both models for THINKING here; tests/council/comparisons/test_quality_check.py covers it.
         "from council.catalog.models import LanguageModel; LanguageModel.objects.update(quality_check=False);"
         "print(ApiToken.issue(User.objects.create_user('newcomer', password='pw-123456'), 'cli')[1])"],
        cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True,
    ).stdout.split()[-1]
    assert (tmp_path / "db.sqlite3").exists() and (tmp_path / "secret_key").exists()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "council.asgi:application"],
        cwd=ROOT, env=env, stdout=open(tmp_path / "daphne.log", "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                          timeout=10) as api:
            slugs = [m["slug"] for m in api.get("/api/models").json()]
            assert slugs == ["smollm2-135m-instruct", "gemma-3-270m"]  # registered on first migrate
            created = api.post("/api/comparisons", json={"prompt": "Say hello.", "models": slugs, "max_tokens": 16})
            assert created.status_code == 201
            events = read_events(api, f"/api/comparisons/{created.json()['id']}/events")
            final = api.get(f"/api/comparisons/{created.json()['id']}").json()
    finally:
        _stop(server)
    for response in final["responses"]:
        deltas = [d["text"] for name, d in events if name == "response.delta" and d["response_id"] == response["id"]]
        assert response["status"] == "done", response["error"]
        assert "".join(deltas) == response["text"]
