"""Each backend's quantization vocabulary: what the catalog accepts and what the engines get."""

import pytest

from inference.quantization import GGUF_TYPES, VLLM_RELEASE, quantization_error, vllm_methods


@pytest.mark.parametrize("backend, name", [
    ("vllm", "fp8"), ("vllm", "fp8_per_tensor"), ("vllm", "awq"), ("vllm", "compressed-tensors"),
    ("llamacpp", "Q4_K_M"), ("llamacpp", "q8_0"),
    ("torch", "int8wo"), ("torch", "awq"), ("torch", "fp8"),
    ("auto", "int4wo"), ("auto", "Q5_K_M"),
    ("openai", "anything the server does"),
    ("vllm", ""), ("llamacpp", "none"),
])
def test_it_accepts_the_names_each_backend_applies(backend, name):
    assert quantization_error(backend, name) is None


@pytest.mark.parametrize("backend, name, words", [
    ("vllm", "Q4_K_M", "vLLM cannot apply"),
    ("vllm", "bitsandbytes", "vLLM cannot apply"),  # gone from 0.33's list
    ("vllm", "fbgemm_fp8", "vLLM cannot apply"),  # deprecated in 0.33
    ("llamacpp", "fp8_per_tensor", "GGUF type"),
    ("torch", "Q4_K_M", "for torch"),
    ("auto", "fp8_per_tensor", "Unknown quantization"),
])
def test_it_names_what_is_wrong_for_that_backend(backend, name, words):
    assert words in quantization_error(backend, name)


def test_without_vllm_installed_it_judges_by_the_release_council_targets():
    assert VLLM_RELEASE == "0.33.0"
    assert "fp8_per_tensor" in vllm_methods() and "gguf" not in vllm_methods()
    assert "Q4_K_M" in GGUF_TYPES
