"""The README's real-services commands on a Postgres that has only its default databases."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import requires_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_database_url():
    """A DATABASE_URL naming a database that does not exist yet; dropped afterwards."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = f"council_fresh_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    yield urlunsplit(parts._replace(path=f"/{name}")), name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    admin = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@requires_services
def test_make_migrate_creates_the_database_it_needs_and_registers_the_bundled_models(fresh_database_url):
    """`make run` starts with `make migrate`; on a fresh server its database did not exist."""
    url, name = fresh_database_url
    assert not database_exists(name)
    venv = sys.prefix  # the environment running the tests; -o: never reinstall it from here
    env = dict(os.environ, DATABASE_URL=url, COUNCIL_PRELOAD="false")
    run = subprocess.run(["make", "-o", f"{venv}/installed", f"VENV={venv}", "migrate"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"Created the database '{name}'" in run.stdout
    with psycopg.connect(url) as conn:
        slugs = {row[0] for row in conn.execute("SELECT slug FROM catalog_languagemodel")}
    assert {"smollm2-135m-instruct", "gemma-3-270m"} <= slugs
    again = subprocess.run(["make", "-o", f"{venv}/installed", f"VENV={venv}", "migrate"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "Created the database" not in again.stdout  # a second run finds it
