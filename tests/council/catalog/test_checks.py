"""System checks with fixed ids for misconfigured models."""

from unittest import mock

import pytest
from django.core import checks
from django.db import DatabaseError

from council.catalog import checks as catalog_checks
from council.catalog.models import LanguageModel


@pytest.fixture(autouse=True)
def embedded():
    """Errors for paths and vLLM apply where this process serves the models (embedded mode)."""
    with mock.patch("council.catalog.validation.serves_models_here", return_value=True):
        yield


def ids(**fields):
    LanguageModel.objects.create(**{"slug": "m", "name": "M", "source": "smollm2-135m-instruct", **fields})
    return [message.id for message in catalog_checks.check_models()]


def test_the_bundled_models_pass_every_check(bundled):
    assert catalog_checks.check_models() == []


def test_the_checks_are_registered_with_django(db):
    LanguageModel.objects.create(slug="m", name="M", source="/no/such/dir")
    assert "council.E001" in [m.id for m in checks.run_checks()]


def test_a_missing_local_path_is_e001(db):
    assert ids(source="/no/such/dir") == ["council.E001"]


def test_with_separate_workers_a_path_or_vllm_missing_here_is_only_a_warning(db):
    """The web host runs `migrate`; the GPU workers, not it, hold the weights and vLLM."""
    with mock.patch("council.catalog.validation.serves_models_here", return_value=False), \
            mock.patch("inference.engines.vllm.vllm_available", return_value=False):
        LanguageModel.objects.create(slug="m", name="M", source="/no/such/dir", backend="vllm")
        messages = catalog_checks.check_models()
    assert [(m.id, m.level) for m in messages] == [("council.W002", checks.WARNING), ("council.W003", checks.WARNING)]


def test_an_unknown_backend_is_e002(db):
    assert ids(backend="mlx") == ["council.E002"]


def test_vllm_without_vllm_installed_is_e003(db):
    """vLLM cannot be installed here; its absence is patched so the test holds on GPU hosts too."""
    with mock.patch("inference.engines.vllm.vllm_available", return_value=False):
        assert ids(backend="vllm") == ["council.E003"]


def test_an_openai_backend_without_an_http_url_is_e004(db):
    assert ids(backend="openai", source="vllm:8001") == ["council.E004"]


def test_a_gpu_queue_on_a_host_without_cuda_is_only_a_warning(db):
    LanguageModel.objects.create(slug="g", name="G", source="smollm2-135m-instruct", queue="gpu-a100")
    with mock.patch.object(catalog_checks, "has_cuda", return_value=False):
        messages = catalog_checks.check_models()
    assert [(m.id, m.level) for m in messages] == [("council.W001", checks.WARNING)]


def test_the_checks_skip_a_database_that_is_not_migrated():
    with mock.patch.object(catalog_checks, "_models", side_effect=DatabaseError("no such table")):
        assert catalog_checks.check_models() == []


@pytest.mark.django_db
def test_the_checks_pass_when_the_catalog_is_empty():
    assert catalog_checks.check_models() == []
