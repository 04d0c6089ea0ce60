"""A model's options: every knob docs/gpu.md names is set in the admin and reaches its engine.

vLLM cannot run here (no GPU, no CPU wheel): the vLLM engine is built with a stand-in
for AsyncLLM, which is enough to read the engine arguments it would load with, and its
presence is patched for the admin's check. The openai engine needs no server to be built.
"""

import json
import re
from pathlib import Path
from unittest import mock

from council.catalog.models import LanguageModel
from inference import GenerationRequest, Message, Mode, engine_options, resolve
from inference.engines.openai import OpenAIEngine, chat_request_body
from inference.engines.vllm import VLLMEngine
from tests.council.catalog.test_admin import change_url, form_data, staff  # noqa: F401  staff is a fixture

DOC = Path(__file__).resolve().parents[3] / "docs" / "gpu.md"
REQUEST = GenerationRequest("r", (Message("user", "Hi"),))

# Where each option shows up in the engine built from the saved model.
VLLM_PROBES = {
    "gpu_memory_utilization": lambda engine, value: engine.args["gpu_memory_utilization"],
    "prompt_lookup_min": lambda engine, value: engine.args["speculative_config"]["prompt_lookup_min"],
    "prompt_lookup_max": lambda engine, value: engine.args["speculative_config"]["prompt_lookup_max"],
    "seed": lambda engine, value: engine.args["seed"],
    "trust_remote_code": lambda engine, value: engine.args["trust_remote_code"],
    "request_timeout": lambda engine, value: engine.request_timeout,
    "vllm_args": lambda engine, value: {key: engine.args[key] for key in value},
}
OPENAI_PROBES = {
    "connect_timeout": lambda engine, value: engine.connect_timeout,
    "read_timeout": lambda engine, value: engine.read_timeout,
    "fast_options": lambda engine, value: {
        key: chat_request_body(engine.spec, resolve(engine.spec, Mode.FAST), REQUEST)[key] for key in value},
    "thinking_options": lambda engine, value: {
        key: chat_request_body(engine.spec, resolve(engine.spec, Mode.THINKING), REQUEST)[key] for key in value},
}


def documented() -> dict[str, dict]:
    """backend -> {option: example value}, from the table under docs/gpu.md's "Per-model options"."""
    section = DOC.read_text(encoding="utf-8").split("## Per-model options", 1)[1].split("\n## ", 1)[0]
    found: dict[str, dict] = {}
    for name, backend, example in re.findall(r"^\| `(\w+)` \| (\w+) \|[^|]+\|[^|]+\| `(.+)` \|$", section, re.M):
        found.setdefault(backend, {})[name] = json.loads(example)
    return found


def save_options(staff, model: LanguageModel, options: dict):
    return staff.post(change_url(model), form_data(model, options=json.dumps(options)))


def test_the_doc_lists_exactly_the_options_each_backends_engines_read():
    options = documented()
    for backend in ("auto", "torch", "llamacpp", "vllm", "openai"):
        assert set(options.get(backend, {})) == {o.name for o in engine_options(backend)}, backend
    assert set(options["vllm"]) == set(VLLM_PROBES) and set(options["openai"]) == set(OPENAI_PROBES)


def test_every_vllm_option_set_in_the_admin_reaches_the_engine(staff, db):
    model = LanguageModel.objects.create(slug="qwen", name="Qwen", source="Qwen/Qwen3-8B", backend="vllm", queue="gpu")
    examples = documented()["vllm"]
    with mock.patch("inference.engines.vllm.vllm_available", return_value=True):
        response = save_options(staff, model, examples)
    assert response.status_code == 302, response.context["adminform"].form.errors
    model.refresh_from_db()
    spec = model.to_spec()
    engine = VLLMEngine(spec, resolve(spec, Mode.FAST, "cuda"), llm=object(), tokenizer=object())
    for name, value in examples.items():
        assert VLLM_PROBES[name](engine, value) == value, name


def test_every_openai_option_set_in_the_admin_reaches_the_engine(staff, db):
    model = LanguageModel.objects.create(slug="remote", name="Remote", source="http://127.0.0.1:9/v1", backend="openai")
    examples = documented()["openai"]
    response = save_options(staff, model, examples)
    assert response.status_code == 302, response.context["adminform"].form.errors
    model.refresh_from_db()
    spec = model.to_spec()
    engine = OpenAIEngine(spec, resolve(spec, Mode.FAST))
    try:
        for name, value in examples.items():
            assert OPENAI_PROBES[name](engine, value) == value, name
    finally:
        engine.close()


def test_the_admin_refuses_an_option_the_backend_does_not_read_or_a_value_of_the_wrong_kind(staff, db):
    model = LanguageModel.objects.create(slug="remote", name="Remote", source="http://127.0.0.1:9/v1", backend="openai")
    page = save_options(staff, model, {"gpu_memory_utilization": 0.9, "read_timeout": "soon"}).content.decode()
    assert "gpu_memory_utilization is not an option of this backend" in page
    assert "read_timeout=soon is not a number" in page
    model.refresh_from_db()
    assert model.options == {}


def test_the_admin_lists_each_backends_options_with_their_defaults(staff, bundled):
    page = staff.get(change_url(bundled["smollm2-135m-instruct"])).content.decode()
    assert 'name="options"' in page
    assert "<code>gpu_memory_utilization</code> (number, default 0.3)" in page
    assert "<code>read_timeout</code> (number, default 120.0)" in page
