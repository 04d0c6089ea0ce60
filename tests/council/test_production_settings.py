"""Production settings pass Django's deployment checks, and a fresh clone needs no variables."""

import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT


def run_check(tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    environ.update(COUNCIL_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = run_check(
        tmp_path, COUNCIL_SECURE="true", SECRET_KEY=secrets.token_urlsafe(60), ALLOWED_HOSTS="council.example.com"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_bad_boolean_names_its_variable(tmp_path):
    result = run_check(tmp_path, COUNCIL_SECURE="perhaps")
    assert result.returncode != 0
    assert "COUNCIL_SECURE='perhaps': expected true or false" in result.stderr
