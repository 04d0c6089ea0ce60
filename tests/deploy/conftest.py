"""Fixtures for the deployment tests (the helpers live in deploy_helpers.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # so the tests can import deploy_helpers in any import mode
    sys.path.insert(0, str(HERE))

from deploy_helpers import COMPOSE_FILE, SCHEMA_FILE, interpolate  # noqa: E402




@pytest.fixture(scope="session")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="session")
def compose_raw(compose_text) -> dict:
    """compose.yaml as written (anchors and merge keys resolved, variables not)."""
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="session")
def compose(compose_raw) -> dict:
    """compose.yaml as Compose sees it with an empty .env: every variable at its default."""
    return interpolate(compose_raw, {})


@pytest.fixture(scope="session")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="session")
def council_services(services) -> dict:
    """The services that run Council's own images (those built from this repository)."""
    return {name: svc for name, svc in services.items() if "build" in svc}


@pytest.fixture(scope="session")
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())
