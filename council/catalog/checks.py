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
    """The catalog's problems (validation.problems: council.E001..E010, W002, W003) and W001; nothing before migrate.

    A local path or vLLM missing here is an error only where this process serves the
    models (embedded mode). With separate workers the web host (where `migrate` runs)
    often has neither the GPU weights nor vLLM, so there it is a warning (W002, W003).
    """
    if databases is not None and "default" not in databases:
        return []
    try:
        models = _models()
    except DatabaseError:  # not migrated yet, or no database: nothing to check
        return []
    messages = []
    cuda = None
    for model in models:
        where = f"Model {model.slug!r}"
        for problem in validation.problems(model):
            if problem.level == "note":
                continue
            level = checks.Error if problem.level == "error" else checks.Warning
            messages.append(level(
                f"{where}, {problem.field}: {problem.message}",
                hint="Fix it in the admin (Model catalog), or disable the model.",
                obj=model, id=problem.id,
            ))
        if model.queue.startswith("gpu"):
            if cuda is None:
                cuda = has_cuda()
            if not cuda:
                messages.append(checks.Warning(
                    f"{where} is on queue {model.queue!r}, but this process sees no CUDA GPU.",
                    hint="Fine on a web host; a worker serving that queue needs a GPU.",
                    obj=model, id="council.W001",
                ))
    return messages
