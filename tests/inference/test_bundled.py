"""The bundled models: specs, GGUF files, and the cached transformers directory."""

from __future__ import annotations

import os

import pytest

from inference import bundled


def test_both_bundled_models_have_specs_with_existing_gguf_files():
    assert set(bundled.BUNDLED) == {"smollm2-135m-instruct", "gemma-3-270m"}
    for slug, model in bundled.BUNDLED.items():
        spec = model.spec()
        assert spec.slug == spec.source == slug
        assert spec.name and spec.description and spec.context_length >= 2048
        assert os.path.exists(spec.gguf_file) and spec.gguf_file == str(model.gguf_path())
    assert "base model" in bundled.BUNDLED["gemma-3-270m"].spec().description


def test_the_data_dir_follows_council_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNCIL_DATA_DIR", str(tmp_path))
    assert bundled.data_dir() == tmp_path
    monkeypatch.delenv("COUNCIL_DATA_DIR")
    assert bundled.data_dir().name == "council"


@pytest.mark.slow
def test_the_transformers_directory_is_converted_once_and_then_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("COUNCIL_DATA_DIR", str(tmp_path))
    path = bundled.transformers_dir("smollm2-135m-instruct")
    assert (path / "model.safetensors").exists() and (path / "council.json").exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".hf-")]
    mtime = (path / "model.safetensors").stat().st_mtime
    assert bundled.transformers_dir("smollm2-135m-instruct") == path
    assert (path / "model.safetensors").stat().st_mtime == mtime
