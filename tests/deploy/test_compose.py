"""compose.yaml, checked without a Docker engine: against the Compose Specification's
JSON schema (vendored as compose-spec.json), and against this repository (the commands,
build contexts, documented variables and secrets it refers to)."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from deploy_helpers import (
    ROOT,
    argv_of,
    celery_pool,
    celery_queues,
    command_problems,
    interpolate,
    variables_in,
)

NON_FORKING_POOLS = {"threads", "solo"}
EXPECTED_SERVICES = {"postgres", "redis", "migrate", "web", "worker-cpu", "worker-gpu", "vllm"}


def _profiles(service: dict) -> list[str]:
    return service.get("profiles") or []


def _depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: spec["condition"] for name, spec in deps.items()}


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _named_volumes(service: dict) -> set[str]:
    names = set()
    for volume in service.get("volumes") or []:
        source = volume.get("source") if isinstance(volume, dict) else volume.split(":", 1)[0]
        if source and not source.startswith((".", "/", "~")):
            names.add(source)
    return names


def _secret_names(service: dict) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets") or []}


def _gpu_devices(service: dict) -> list[dict]:
    reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    return reservations.get("devices") or []


def _is_celery_worker(argv: list[str]) -> bool:
    return bool(argv) and Path(argv[0]).name == "celery" and "worker" in argv


def test_compose_file_is_valid_against_the_compose_specification(compose_raw, compose, schema):
    validator = jsonschema.Draft7Validator(schema)
    for label, document in (("as written", compose_raw), ("interpolated", compose)):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, f"compose.yaml ({label}) breaks the Compose Specification:\n" + "\n".join(
            f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
        )


def test_the_vendored_schema_is_the_compose_specification(schema):
    assert schema["title"] == "Compose Specification"
    assert {"services", "volumes", "secrets", "networks"} <= set(schema["properties"])
    # the schema rejects what it should: an unknown service key
    bad = {"services": {"web": {"image": "x", "no_such_key": 1}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


def test_compose_defines_every_service_of_the_deployment(services):
    assert set(services) == EXPECTED_SERVICES


def test_every_variable_has_a_default_so_an_empty_env_file_works(compose_raw):
    interpolate(compose_raw, {})  # raises on ${VAR:?...} with nothing set

    def plain_references(node):
        if isinstance(node, str):
            yield from re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?![{])", node.replace("$$", ""))
        elif isinstance(node, list):
            for item in node:
                yield from plain_references(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from plain_references(value)

    without_default = sorted({a or b for a, b in plain_references(compose_raw)})
    assert not without_default, f"variables with no default in compose.yaml: {without_default}"


def test_every_service_command_points_at_an_existing_module(council_services):
    problems = []
    for name, service in council_services.items():
        argv = argv_of(service.get("command"))
        problems += [f"{name}: {p}" for p in command_problems(argv)]
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test and test[0] == "CMD":
            problems += [f"{name} healthcheck: {p}" for p in command_problems(test[1:])]
    assert not problems, "\n".join(problems)


def test_every_build_context_and_dockerfile_exists(services):
    built = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert built, "no service builds an image from this repository"
    for name, build in built.items():
        build = {"context": build} if isinstance(build, str) else build
        context = (ROOT / build.get("context", ".")).resolve()
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_web_and_workers_share_one_image_and_the_gpu_worker_uses_the_gpu_image(services):
    cpu = {services[n]["build"]["dockerfile"] for n in ("migrate", "web", "worker-cpu")}
    assert cpu == {"docker/Dockerfile"}
    assert len({services[n]["image"] for n in ("migrate", "web", "worker-cpu")}) == 1
    assert services["worker-gpu"]["build"]["dockerfile"] == "docker/Dockerfile.gpu"


def test_every_referenced_service_volume_and_secret_is_declared(compose, services):
    volumes, secrets = set(compose.get("volumes") or {}), set(compose.get("secrets") or {})
    for name, service in services.items():
        assert _named_volumes(service) <= volumes, f"{name}: undeclared volume"
        assert _secret_names(service) <= secrets, f"{name}: undeclared secret"
        for dep in _depends_on(service):
            assert dep in services, f"{name} depends on unknown service {dep}"
            # a service that runs by default can't wait on one only a profile starts
            if not _profiles(service):
                assert not _profiles(services[dep]), f"{name} depends on {dep}, which only runs under a profile"


def test_postgres_and_redis_have_healthchecks(services):
    postgres = " ".join(argv_of(services["postgres"]["healthcheck"]["test"]))
    redis = argv_of(services["redis"]["healthcheck"]["test"])
    assert "pg_isready" in postgres
    assert redis[-2:] == ["redis-cli", "ping"]
    for name in ("postgres", "redis"):
        assert _named_volumes(services[name]), f"{name} keeps its data in a named volume"


def test_migrate_is_a_one_shot_service_that_web_waits_for(services):
    migrate = services["migrate"]
    assert argv_of(migrate["command"])[-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate.get("restart", "no") == "no"
    assert _depends_on(migrate) == {"postgres": "service_healthy"}


def test_web_waits_for_migrations_and_healthy_backing_services(services):
    web = services["web"]
    assert argv_of(web["command"]) == ["daphne", "-b", "0.0.0.0", "-p", "8000", "council.asgi:application"]
    assert _depends_on(web) == {
        "migrate": "service_completed_successfully",
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }
    assert any(str(p).endswith(":8000") for p in web["ports"])


def test_workers_start_after_migrations_and_consume_their_queue(services):
    for name, queue in (("worker-cpu", "cpu"), ("worker-gpu", "gpu")):
        argv = argv_of(services[name]["command"])
        assert _is_celery_worker(argv), name
        assert celery_queues(argv) == [queue], name
        assert _depends_on(services[name])["migrate"] == "service_completed_successfully"


def test_every_celery_worker_names_its_pool_and_the_cpu_worker_uses_threads(services):
    for name, service in services.items():
        argv = argv_of(service.get("command"))
        if _is_celery_worker(argv):
            assert celery_pool(argv), f"{name}: a celery worker must name its pool (--pool)"
    assert celery_pool(argv_of(services["worker-cpu"]["command"])) == "threads"


def test_the_gpu_profile_services_request_nvidia_devices_and_use_a_non_forking_pool(services):
    gpu = {name: svc for name, svc in services.items() if "gpu" in _profiles(svc)}
    assert set(gpu) == {"worker-gpu", "vllm"}
    for name, service in gpu.items():
        devices = _gpu_devices(service)
        assert devices, f"{name}: no deploy.resources.reservations.devices"
        for device in devices:
            assert device.get("driver") == "nvidia", name
            assert "gpu" in device.get("capabilities", []), name
            assert "count" in device or "device_ids" in device, name
        assert service.get("shm_size") or service.get("ipc") == "host", f"{name}: needs shared memory"
        argv = argv_of(service.get("command"))
        if _is_celery_worker(argv):
            assert celery_pool(argv) in NON_FORKING_POOLS, f"{name}: prefork after CUDA init breaks"


def test_the_default_profile_runs_without_a_gpu(services):
    for name, service in services.items():
        if not _profiles(service):
            assert not _gpu_devices(service), f"{name} would need a GPU on every host"
            assert not service.get("gpus"), name


def test_the_gpu_worker_keeps_its_model_cache_in_a_volume_at_hf_home(services):
    worker = services["worker-gpu"]
    hf_home = _environment(worker)["HF_HOME"]
    targets = {v.split(":")[1] for v in worker["volumes"] if isinstance(v, str)}
    assert hf_home in targets
    assert _environment(worker)["COUNCIL_DEVICE"] == "cuda"


def test_the_vllm_service_serves_the_openai_api_on_port_8001(services):
    vllm = services["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    argv = argv_of(vllm.get("entrypoint")) + argv_of(vllm["command"])
    assert argv[:2] == ["vllm", "serve"] and not argv[2].startswith("-"), "vllm serve <model> first"
    assert argv[argv.index("--port") + 1] == "8001"
    assert "8001" in [str(p) for p in vllm.get("expose", [])]


def test_secrets_come_from_files_under_secrets_which_git_and_docker_ignore(compose, services):
    secrets = compose["secrets"]
    assert set(secrets) >= {"postgres_password", "django_secret_key"}
    for name, secret in secrets.items():
        assert Path(secret["file"]).parts[:2] in (("secrets", name), (".", "secrets")), secret
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert {"secrets/", "/secrets/", "secrets"} & set(gitignore), ".gitignore must ignore secrets/"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert {"secrets", "/secrets", "secrets/"} & set(dockerignore)
    assert ".env" in dockerignore


def test_no_password_or_secret_key_is_set_as_a_plain_variable(services):
    for name, service in services.items():
        for key, value in _environment(service).items():
            if re.search(r"PASSWORD|SECRET", key) and key != "HF_TOKEN":
                assert key.endswith("_FILE"), f"{name}: {key} should be a *_FILE secret"
                assert str(value).startswith("/run/secrets/"), f"{name}: {key}={value}"
        url = _environment(service).get("DATABASE_URL", "")
        assert not re.search(r"://[^/@]*:[^/@]*@", url), f"{name}: a password inside DATABASE_URL"


def test_council_containers_read_the_database_password_and_secret_key_from_secrets(council_services):
    for name, service in council_services.items():
        env = _environment(service)
        assert env["DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres_password", name
        assert env["SECRET_KEY_FILE"] == "/run/secrets/django_secret_key", name
        assert _secret_names(service) >= {"postgres_password", "django_secret_key"}, name
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379"), name


def _documented_in_configuration_md() -> set[str]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    names = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if cells:
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]))
    return names


def _documented_in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def _variables_used_in_compose(compose_text: str, council_services: dict) -> set[str]:
    used = variables_in(compose_text)
    for service in council_services.values():
        used |= set(_environment(service))
    return used


def test_every_env_var_used_in_compose_is_documented(compose_text, council_services):
    used = _variables_used_in_compose(compose_text, council_services)
    assert used, "found no variables in compose.yaml"
    missing_docs = sorted(used - _documented_in_configuration_md())
    missing_example = sorted(used - _documented_in_env_example())
    assert not missing_docs, f"not in the table of docs/configuration.md: {missing_docs}"
    assert not missing_example, f"not in .env.example: {missing_example}"


SETTINGS_FROM_THE_DESIGN = {
    "DATABASE_URL", "DATABASE_PASSWORD_FILE", "REDIS_URL", "SECRET_KEY", "SECRET_KEY_FILE",
    "DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "COUNCIL_DATA_DIR", "COUNCIL_DEVICE",
    "COUNCIL_REGISTER_BUNDLED", "COUNCIL_SECURE", "LOG_LEVEL",
}


def _variables_read_by_the_code() -> set[str]:
    """Variables the Python code reads: env_str("X") and friends, os.environ.get("X")."""
    pattern = re.compile(
        r"""(?:env_(?:str|bool|int|list|url_list)|os\.environ\.get|os\.getenv|environ\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    names = set()
    for package in ("council", "inference"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(pattern.findall(path.read_text(errors="replace")))
    names.discard("DJANGO_SETTINGS_MODULE")
    return names


def test_every_setting_the_code_reads_is_documented():
    settings = SETTINGS_FROM_THE_DESIGN | _variables_read_by_the_code()
    missing_docs = sorted(settings - _documented_in_configuration_md())
    missing_example = sorted(settings - _documented_in_env_example())
    assert not missing_docs, f"not in the table of docs/configuration.md: {missing_docs}"
    assert not missing_example, f"not in .env.example: {missing_example}"


def test_the_configuration_table_gives_name_default_and_meaning():
    text = (ROOT / "docs" / "configuration.md").read_text()
    headers = [
        [c.strip().lower() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.lstrip().startswith("|") and "name" in line.lower()
    ]
    assert ["name", "default", "meaning"] in headers


@pytest.mark.parametrize("phrase", [
    "docker compose up", "--profile gpu", "nvidia-container-toolkit", "queue", "not exercised",
])
def test_the_deployment_guide_covers(phrase):
    assert phrase.lower() in (ROOT / "docs" / "deployment.md").read_text().lower()


def test_the_deployment_guide_names_every_service(services):
    text = (ROOT / "docs" / "deployment.md").read_text()
    assert not [name for name in services if f"`{name}`" not in text]


def test_the_gpu_profile_asks_one_gpu_for_at_most_nine_tenths_of_its_memory(compose_text):
    """The vllm service's share plus the GPU worker's two in-process engines (a model's FAST and THINKING)."""
    def default(name: str) -> float:
        match = re.search(r"\$\{" + name + r":-([0-9.]+)\}", compose_text)
        assert match, f"compose.yaml gives {name} no default"
        return float(match.group(1))

    total = default("VLLM_GPU_MEMORY_UTILIZATION") + 2 * default("COUNCIL_VLLM_GPU_MEMORY_UTILIZATION")
    assert total <= 0.9 + 1e-9
