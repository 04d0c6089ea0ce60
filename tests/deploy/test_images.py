"""The Dockerfiles and the scripts under docker/, checked without a Docker engine:
parsed for what the images must be (multi-stage, non-root, CPU torch, vLLM's image),
and the small scripts run directly."""

from __future__ import annotations

import fnmatch
import http.server
import importlib.util
import os
import re
import subprocess
import sys
import threading
import tomllib

import pytest

from deploy_helpers import ROOT, command_problems, dockerfile_stages, exec_form, interpolate_string

WEB_DOCKERFILE = ROOT / "docker" / "Dockerfile"
GPU_DOCKERFILE = ROOT / "docker" / "Dockerfile.gpu"
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|cmake)\b")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name.replace(".py", ""), ROOT / "docker" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` (relative to the repository root) out of the context."""
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "")) for p in prefixes):
            ignored = not negate
    return ignored


def test_the_web_image_builds_in_two_stages_on_python_3_11_slim():
    _, stages = dockerfile_stages(WEB_DOCKERFILE)
    assert len(stages) >= 2
    assert stages[-1].image == "python:3.11-slim"
    assert stages[0].image == stages[-1].image, "build and runtime stages share one base (same libc, same Python)"
    assert "--from=" + stages[0].name in stages[-1].text("COPY")


def test_the_build_stage_has_the_compilers_llama_cpp_needs_and_the_runtime_stage_none():
    _, stages = dockerfile_stages(WEB_DOCKERFILE)
    build_runs, runtime_runs = stages[0].text("RUN"), stages[-1].text("RUN")
    assert "build-essential" in build_runs and "cmake" in build_runs
    assert not COMPILERS.search(runtime_runs), runtime_runs


def test_the_web_image_installs_the_cpu_build_of_the_torch_that_the_constraints_pin():
    args, stages = dockerfile_stages(WEB_DOCKERFILE)
    build = stages[0]
    build_args = dict(a.split("=", 1) for a in build.all("ARG") if "=" in a)
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [line for line in constraints if re.match(r"torch\s*==", line)]
    assert pins, "constraints.txt no longer pins torch: update docker/Dockerfile"
    assert build_args["TORCH_VERSION"] == pins[0].split("==")[1].strip()
    assert build_args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    runs = build.all("RUN")
    torch_step = next(i for i, r in enumerate(runs) if "TORCH_INDEX_URL" in r)
    deps_step = next(i for i, r in enumerate(runs) if "pip install -r" in r)
    assert torch_step < deps_step, "CPU torch must be in place before the dependencies pull a CUDA one"


def test_the_web_image_runs_as_a_non_root_user_from_the_source_tree():
    _, stages = dockerfile_stages(WEB_DOCKERFILE)
    runtime = stages[-1]
    user = runtime.all("USER")[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert "useradd" in runtime.text("RUN") and user in runtime.text("RUN")
    assert runtime.all("WORKDIR")[-1] == "/app"
    assert "PYTHONPATH=/app" in runtime.text("ENV")


def test_static_files_are_collected_at_build_without_baking_a_secret_key_into_the_image():
    _, stages = dockerfile_stages(WEB_DOCKERFILE)
    step = next(r for r in stages[-1].all("RUN") if "collectstatic" in r)
    assert "manage.py collectstatic --noinput" in step
    # settings would otherwise generate a key into COUNCIL_DATA_DIR, shared by every container
    assert "SECRET_KEY=" in step and "COUNCIL_DATA_DIR=" in step


@pytest.mark.parametrize("dockerfile", [WEB_DOCKERFILE, GPU_DOCKERFILE], ids=["web", "gpu"])
def test_the_default_command_points_at_an_existing_module(dockerfile):
    _, stages = dockerfile_stages(dockerfile)
    runtime = stages[-1]
    entrypoint = exec_form(runtime.all("ENTRYPOINT")[-1])
    assert entrypoint[0] == "/bin/sh" and entrypoint[1].startswith("/app/")
    assert (ROOT / entrypoint[1].removeprefix("/app/")).is_file()
    assert command_problems(exec_form(runtime.all("CMD")[-1])) == []


@pytest.mark.parametrize("dockerfile", [WEB_DOCKERFILE, GPU_DOCKERFILE], ids=["web", "gpu"])
def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile):
    _, stages = dockerfile_stages(dockerfile)
    for stage in stages:
        for args in stage.all("COPY"):
            parts = [p for p in args.split() if not p.startswith("--")]
            if "--from=" in args:
                continue
            for source in parts[:-1]:
                assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: no such file"
                if source != ".":
                    assert not _dockerignored(source), f"{dockerfile.name}: COPY {source}: .dockerignore drops it"


def test_the_build_context_leaves_out_secrets_and_local_state():
    for path in ("secrets/django_secret_key", ".env", ".git/config", ".venv/bin/python", "data/db.sqlite3"):
        assert _dockerignored(path), path
    for path in ("council/settings.py", "manage.py", "pyproject.toml", "docker/entrypoint.sh", "static", "templates"):
        assert not _dockerignored(path), path


def test_the_gpu_image_builds_on_vllms_official_image_with_the_tag_compose_uses(compose_raw):
    args, stages = dockerfile_stages(GPU_DOCKERFILE)
    assert all(stage.image.startswith("vllm/vllm-openai:") for stage in stages)
    tag = stages[-1].image.split(":", 1)[1]
    gpu_build_arg = compose_raw["services"]["worker-gpu"]["build"]["args"]["VLLM_IMAGE"]
    assert interpolate_string(gpu_build_arg, {}) == stages[-1].image
    assert interpolate_string(compose_raw["services"]["vllm"]["image"], {}).endswith(":" + tag)


def test_the_gpu_image_keeps_the_torch_vllm_and_transformers_of_its_base_image():
    _, stages = dockerfile_stages(GPU_DOCKERFILE)
    install = next(r for r in stages[-1].all("RUN") if "pip install" in r)
    assert "--exclude torch" in install
    assert re.search(r"-c \S*constraints", install) and '"torch", "vllm", "transformers"' in install


def test_the_gpu_image_has_no_compiler_and_runs_a_threaded_worker_as_non_root():
    _, stages = dockerfile_stages(GPU_DOCKERFILE)
    runtime = stages[-1]
    assert not COMPILERS.search(runtime.text("RUN"))
    assert runtime.all("USER")[-1].split(":")[0] not in {"root", "0"}
    cmd = exec_form(runtime.all("CMD")[-1])
    assert cmd[:4] == ["celery", "-A", "council", "worker"]
    assert cmd[cmd.index("--pool") + 1] == "threads"
    assert "HF_HOME=/models/hf" in runtime.text("ENV")


def test_pyproject_requirements_lists_the_dependencies_with_exclusions():
    module = _load("pyproject_requirements.py")
    data = _pyproject()
    every = module.requirements(data)
    assert every == data["project"]["dependencies"]
    without_torch = module.requirements(data, exclude=["torch"])
    assert len(without_torch) == len(every) - 1 and not any(r.startswith("torch") for r in without_torch)
    assert [module.requirement_name(r) for r in module.requirements(data, only=["llama_cpp_python"])] == ["llama-cpp-python"]
    with pytest.raises(SystemExit):
        module.requirements(data, only=["no-such-package"])


def _entrypoint(args, env, tmp_path):
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    return subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), *args],
        env={**base, **env}, capture_output=True, text=True, timeout=30,
    )


def test_the_entrypoint_runs_the_command_it_is_given(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("k")
    result = _entrypoint(
        ["echo", "ran"], {"COUNCIL_DATA_DIR": str(tmp_path / "data"), "SECRET_KEY_FILE": str(secret)}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran"
    assert (tmp_path / "data").is_dir()


def test_the_entrypoint_refuses_to_start_on_an_unreadable_secret_file(tmp_path):
    result = _entrypoint(
        ["echo", "ran"], {"COUNCIL_DATA_DIR": str(tmp_path), "DATABASE_PASSWORD_FILE": str(tmp_path / "missing")}, tmp_path
    )
    assert result.returncode == 78
    assert "DATABASE_PASSWORD_FILE" in result.stderr and "ran" not in result.stdout


def test_init_secrets_creates_readable_random_secrets_once(tmp_path):
    script = ROOT / "docker" / "init-secrets.sh"
    target = tmp_path / "secrets"
    subprocess.run(["sh", str(script), str(target)], check=True, capture_output=True, timeout=30)
    first = {p.name: p.read_text() for p in target.iterdir()}
    assert set(first) == {"postgres_password", "django_secret_key"}
    assert all(len(v) >= 32 and v.isalnum() for v in first.values())
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in target.iterdir())
    subprocess.run(["sh", str(script), str(target)], check=True, capture_output=True, timeout=30)
    assert {p.name: p.read_text() for p in target.iterdir()} == first


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_web_healthcheck_passes_while_the_server_answers_below_500(http_server):
    check = _load("healthcheck.py").check
    assert check(f"{http_server}/200")[0]
    assert check(f"{http_server}/301")[0]  # COUNCIL_SECURE redirects plain HTTP
    assert check(f"{http_server}/400")[0]  # a Host not in ALLOWED_HOSTS: still up
    assert not check(f"{http_server}/503")[0]


def test_the_healthcheck_fails_when_nothing_listens():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok, message = _load("healthcheck.py").check(f"http://127.0.0.1:{port}/api/models", timeout=2)
    assert not ok, message
    result = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "healthcheck.py"), f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
