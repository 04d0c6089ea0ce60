"""System checks of the catalog: misconfigured models are reported by `manage.py check` and at start."""

from __future__ import annotations

from django.core import checks
from django.db import DatabaseError

from council.catalog import validation
from inference import detect_device


def _models():
    from council.catalog.models import LanguageModel

    return list(LanguageModel.objects.all())


def has_cuda() -> bool:
    return detect_device() == "cuda"


@checks.register("council")
def check_models(app_configs=None, databases=None, **kwargs):
    """council.E001..E004 and W001..W003 for each model in the catalog; nothing before migrate.

    A local path or vLLM missing here is an error only where this process serves the
    models (embedded mode). With separate workers the web host (where `migrate` runs)
    often has neither the GPU weights nor vLLM, so there it is a warning (W002, W003).
    """
    here = validation.serves_models_here()
    if databases is not None and "default" not in databases:
        return []
    try:
        models = _models()
    except DatabaseError:  # not migrated yet, or no database: nothing to check
        return []
    errors = []
    cuda = None
    for model in models:
        where = f"Model {model.slug!r}"
        for field in ("source", "gguf_file", "draft_model"):
            value = getattr(model, field)
            if model.backend == "openai" and field == "source" or validation.is_bundled(value):
                continue
            missing = validation.missing_path(value)
            if missing and here:
                errors.append(checks.Error(
                    f"{where}: its {field} {missing} does not exist.",
                    hint="Fix the path in the admin (Model catalog), or disable the model.",
                    obj=model, id="council.E001",
                ))
            elif missing:
                errors.append(checks.Warning(
                    f"{where}: its {field} {missing} does not exist on this host.",
                    hint=f"The workers serving queue {model.queue!r} must have it.",
                    obj=model, id="council.W002",
                ))
        backend_error = validation.backend_error(model.backend)
        if backend_error:
            errors.append(checks.Error(f"{where}: {backend_error}", obj=model, id="council.E002"))
        if model.backend == "vllm" and validation.vllm_missing():
            level, check_id = (checks.Error, "council.E003") if here else (checks.Warning, "council.W003")
            errors.append(level(
                f"{where} uses the vllm backend, but vLLM is not installed here.",
                hint=f"Install vllm on the GPU workers serving queue {model.queue!r}, or choose another backend.",
                obj=model, id=check_id,
            ))
        if model.backend == "openai" and validation.http_url_error(model.source):
            errors.append(checks.Error(
                f"{where} uses the openai backend without an http(s) URL as its source ({model.source!r}).",
                hint="Set the source to the server's base URL, e.g. http://vllm:8001/v1.",
                obj=model, id="council.E004",
            ))
        if model.queue.startswith("gpu"):
            if cuda is None:
                cuda = has_cuda()
            if not cuda:
                errors.append(checks.Warning(
                    f"{where} is on queue {model.queue!r}, but this process sees no CUDA GPU.",
                    hint="Fine on a web host; a worker serving that queue needs a GPU.",
                    obj=model, id="council.W001",
                ))
    return errors
