"""LanguageModel.clean(): a field-level message for each configuration that cannot be served."""

import json
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from council.catalog.models import LanguageModel


def model(**fields):
    values = {"slug": "m", "name": "M", "source": "smollm2-135m-instruct", "backend": "auto"}
    values.update(fields)
    return LanguageModel(**values)


def errors_of(instance) -> dict:
    with pytest.raises(ValidationError) as caught:
        instance.clean()
    return caught.value.message_dict


def test_a_bundled_slug_and_a_hub_id_are_valid_sources():
    model(source="smollm2-135m-instruct").clean()
    model(source="HuggingFaceTB/SmolLM2-135M-Instruct").clean()


def test_it_rejects_an_unknown_backend():
    assert "Unknown backend 'mlx'" in errors_of(model(backend="mlx"))["backend"][0]


@pytest.fixture
def embedded():
    """Paths and vLLM are checked hard where this process serves the models (embedded mode)."""
    with mock.patch("council.catalog.validation.serves_models_here", return_value=True):
        yield


def test_it_rejects_a_local_path_that_does_not_exist(tmp_path, embedded):
    errors = errors_of(model(source=str(tmp_path / "nowhere"), gguf_file="./missing.gguf"))
    assert "No such file or directory" in errors["source"][0]
    assert "No such GGUF file" in errors["gguf_file"][0]


def test_it_accepts_a_local_path_that_exists(tmp_path):
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    model(source=str(tmp_path), gguf_file=str(tmp_path / "w.gguf")).clean()


def test_the_openai_backend_needs_an_http_url():
    assert "http://" in errors_of(model(backend="openai", source="vllm:8001"))["source"][0]
    model(backend="openai", source="https://api.example.com/v1").clean()


def test_with_separate_workers_a_path_or_vllm_missing_here_is_a_note_not_an_error(tmp_path):
    """The web host where the admin runs often has neither the GPU weights nor vLLM."""
    instance = model(source=str(tmp_path / "nowhere"), backend="vllm", queue="gpu")
    with mock.patch("council.catalog.validation.serves_models_here", return_value=False), \
            mock.patch("inference.engines.vllm.vllm_available", return_value=False):
        instance.clean()
    assert len(instance.validation_notes) == 2
    assert all("queue 'gpu'" in note for note in instance.validation_notes)


def test_it_rejects_vllm_where_it_is_not_installed(embedded):
    """vLLM cannot be installed here: its presence is patched both ways."""
    with mock.patch("inference.engines.vllm.vllm_available", return_value=False):
        assert "vLLM is not installed" in errors_of(model(backend="vllm"))["backend"][0]
    with mock.patch("inference.engines.vllm.vllm_available", return_value=True):
        model(backend="vllm").clean()


def _tokenizer_dir(path, vocab):
    path.mkdir()
    (path / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    return str(path)


def test_it_rejects_a_draft_model_whose_tokenizer_differs(tmp_path):
    target = _tokenizer_dir(tmp_path / "target", {"a": 0, "b": 1})
    draft = _tokenizer_dir(tmp_path / "draft", {"a": 0, "c": 1})
    assert "tokenizer differs" in errors_of(model(source=target, draft_model=draft))["draft_model"][0]


def test_a_draft_model_with_the_same_tokenizer_is_valid(tmp_path):
    target = _tokenizer_dir(tmp_path / "target", {"a": 0, "b": 1})
    draft = _tokenizer_dir(tmp_path / "draft", {"a": 0, "b": 1})
    instance = model(source=target, draft_model=draft, speculative_method="draft")
    instance.clean()
    assert instance.validation_notes == []


def test_it_says_when_the_draft_tokenizer_cannot_be_checked():
    instance = model(source="org/big", draft_model="org/small")
    instance.clean()
    assert "could not be checked" in instance.validation_notes[0]


def test_the_draft_method_needs_a_draft_model():
    assert "needs a draft model" in errors_of(model(speculative_method="draft"))["draft_model"][0]


def test_token_limits_must_nest_inside_the_context():
    errors = errors_of(model(context_length=1024, max_tokens_limit=2048, default_max_tokens=4096, reasoning_max_tokens=9999))
    assert "more than the max tokens limit" in errors["default_max_tokens"][0]
    assert "more than the context length (1024)" in errors["max_tokens_limit"][0]
    assert "reasoning_max_tokens" in errors


def test_the_reasoning_budget_must_leave_room_for_the_answer():
    errors = errors_of(model(context_length=1024, max_tokens_limit=512, default_max_tokens=512, reasoning_max_tokens=600))
    assert "use at most 512" in errors["reasoning_max_tokens"][0]
    model(context_length=1024, max_tokens_limit=512, default_max_tokens=512, reasoning_max_tokens=512).clean()


def test_it_rejects_an_unknown_thinking_dtype():
    assert "float32" in errors_of(model(thinking_dtype="fp64"))["thinking_dtype"][0]


def test_out_of_range_sampling_values_fail_full_clean():
    with pytest.raises(ValidationError) as caught:
        model(temperature=3.0, top_p=1.5).full_clean(exclude=["slug"])
    assert {"temperature", "top_p"} <= set(caught.value.message_dict)


def test_the_quantization_is_checked_against_the_backends_own_names():
    assert "vLLM cannot apply" in errors_of(model(backend="vllm", source="Qwen/Qwen3-8B", quantization="Q4_K_M"))["quantization"][0]
    assert "GGUF type" in errors_of(model(backend="llamacpp", quantization="fp8_per_tensor"))["quantization"][0]
    assert "for torch" in errors_of(model(backend="torch", quantization="Q4_K_M"))["quantization"][0]
    model(backend="llamacpp", quantization="Q8_0").clean()
    model(backend="torch", quantization="int8wo").clean()
