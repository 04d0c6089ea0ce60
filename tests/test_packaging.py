"""The `[vllm]` extra resolves to the vLLM release the GPU image is built on (asks the package index)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inference import VLLM_RELEASE

ROOT = Path(__file__).resolve().parent.parent


def image_release() -> str:
    dockerfile = (ROOT / "docker" / "Dockerfile.gpu").read_text()
    return re.search(r"ARG VLLM_IMAGE=vllm/vllm-openai:v([0-9.]+)", dockerfile).group(1)


def test_the_extra_the_image_the_compose_file_and_the_code_name_one_vllm_release():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'vllm = ["vllm=={image_release()}"]' in pyproject
    assert f"${{VLLM_TAG:-v{image_release()}}}" in (ROOT / "compose.yaml").read_text()
    assert VLLM_RELEASE == image_release()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pip_resolves_the_vllm_extra_to_the_images_release(tmp_path):
    """`pip install --dry-run` of `.[vllm]` as on a fresh GPU host: nothing is installed, only metadata read."""
    report = tmp_path / "report.json"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
             "--report", str(report), "-e", f"{ROOT}[vllm]"],
            capture_output=True, text=True, timeout=840,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("the package index did not answer within 14 minutes")
    if run.returncode != 0 and re.search(r"(?i)connection|network is unreachable|temporary failure", run.stderr):
        pytest.skip(f"the package index is unreachable: {run.stderr[-300:]}")
    assert run.returncode == 0, run.stderr[-2000:]
    picked = {item["metadata"]["name"].lower(): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    assert picked["vllm"] == image_release(), f"pip picked vllm {picked['vllm']}"
    assert re.match(r"5\.(1[6-9]|20)\.", picked["transformers"]), picked["transformers"]
