"""Registers the models that ship with the install, once, after migrate."""

import logging

from django.conf import settings

log = logging.getLogger(__name__)


def register_bundled_models() -> list[str]:
    """Create a LanguageModel row for each bundled model that has none; keep edits made in the admin."""
    from inference import BUNDLED

    from council.catalog.models import LanguageModel

    created = []
    for order, (slug, bundled) in enumerate(BUNDLED.items()):
        spec = bundled.spec()
        _, was_created = LanguageModel.objects.get_or_create(
            slug=slug,
            defaults={
                "name": spec.name or slug,
                "description": spec.description,
                "source": spec.source,
                "backend": spec.backend,
                # The GGUF path is resolved from the bundled slug at load time, so that
                # the row survives a reinstall into another virtual environment.
                "chat_template": spec.chat_template or "",
                "context_length": spec.context_length,
                "default_max_tokens": spec.default_max_tokens,
                # clean() requires the limit to fit the context window.
                "max_tokens_limit": min(spec.max_tokens_limit, spec.context_length),
                "temperature": spec.temperature,
                "top_p": spec.top_p,
                "supports_reasoning": spec.supports_reasoning,
                "speculative_method": spec.speculative_method,
                "num_speculative_tokens": spec.num_speculative_tokens,
                "queue": "cpu",
                "order": order,
            },
        )
        if was_created:
            created.append(slug)
    if created:
        log.info("Registered bundled models: %s", ", ".join(created))
    return created


def register_after_migrate(sender, **kwargs):
    if settings.COUNCIL_REGISTER_BUNDLED:
        register_bundled_models()
