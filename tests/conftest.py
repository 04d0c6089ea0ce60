"""Fixtures shared by every test: named users, and live processes on real services."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from council.lib import net
from council.lib.net import stop as _stop

ROOT = Path(__file__).resolve().parent.parent
# No sweeper thread in the test process itself (its database is the test's, behind
# pytest-django's guard); the servers and workers the tests start run theirs.
os.environ["COUNCIL_SWEEPER"] = "false"
settings.COUNCIL_SWEEPER = False
# No warm start anywhere in the tests (their processes load what they use); the preload
# tests turn it on for themselves.
os.environ["COUNCIL_PRELOAD"] = "false"
settings.COUNCIL_PRELOAD = False


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-123")


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("admin", password="admin-pass-123")


def service_env() -> dict:
    """The environment for a child process that must see this test's database."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["COUNCIL_REGISTER_BUNDLED"] = "false"
    env["COUNCIL_SWEEPER"] = "true"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


requires_services = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="needs Postgres and Redis (DATABASE_URL and REDIS_URL; `make test` sets them)",
)


@pytest.fixture
def worker_queue(transactional_db):
    """A queue of this test's own, so no stale task of another run reaches its worker."""
    return f"test-{uuid.uuid4().hex[:8]}"


def start_worker(queue: str, log_path: Path, concurrency: int = 2, **env) -> subprocess.Popen:
    """A real `celery worker` process on Redis and the test database, serving `queue`."""
    return net.start_worker(queue, cwd=ROOT, env={**service_env(), **env}, log=open(log_path, "w"),
                            concurrency=concurrency)


def start_daphne(log_path: Path, **env) -> tuple[subprocess.Popen, str]:
    """The real ASGI server on a free loopback port, and its base URL, once it listens."""
    port = net.free_port()
    process = net.start_daphne(port, cwd=ROOT, env={**service_env(), **env}, log=open(log_path, "w"))
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def celery_worker(worker_queue, tmp_path):
    process = start_worker(worker_queue, tmp_path / "worker.log")
    yield process
    _stop(process)


@pytest.fixture
def daphne_server(transactional_db, tmp_path):
    """The real ASGI server: HTTP, SSE and WebSocket."""
    process, url = start_daphne(tmp_path / "daphne.log")
    yield url
    _stop(process)


@pytest.fixture
def bundled(db):
    """The two bundled models as registered on first run, by slug.

    Their check of FAST answers against THINKING is off: it loads THINKING in the worker
    after every FAST answer. The tests of that check turn it on.
    """
    from council.catalog.bundled import register_bundled_models
    from council.catalog.models import LanguageModel

    register_bundled_models()
    LanguageModel.objects.update(quality_check=False)
    return {m.slug: m for m in LanguageModel.objects.all()}



@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No persistent connections in tests: consumers' threads must not hold the test database open."""
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
