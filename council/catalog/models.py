"""LanguageModel: what can be served, and how in each mode."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from council.catalog import validation

from inference import BACKENDS, SPECULATIVE_METHODS, ModelSpec, extra_from_options


BACKEND_LABELS = {
    "auto": "Automatic (llama.cpp for FAST on CPU, torch otherwise)",
    "torch": "transformers / torch",
    "llamacpp": "llama.cpp",
    "vllm": "vLLM (GPU)",
    "openai": "OpenAI-compatible server",
}
SPECULATION_LABELS = {
    "auto": "Where it pays (plan decides)",
    "none": "Off",
    "ngram": "N-gram prompt lookup",
    "draft": "Draft model",
    "eagle": "EAGLE (vLLM)",
}


def _choices(names, labels):
    """The inference layer's vocabulary as field choices, labelled for the admin."""
    return [(name, labels.get(name, name)) for name in names]


class LanguageModel(models.Model):
    slug = models.SlugField(unique=True, max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    order = models.IntegerField(default=0)

    backend = models.CharField(max_length=20, choices=_choices(BACKENDS, BACKEND_LABELS), default="auto")
    source = models.CharField(
        max_length=500, help_text="Bundled slug, local path, hub id, or (openai backend) the server's base URL."
    )
    gguf_file = models.CharField(max_length=500, blank=True, help_text="GGUF weights for FAST on CPU (llama.cpp).")
    api_key = models.CharField(max_length=500, blank=True, help_text="Bearer key for an OpenAI-compatible server.")
    remote_model_fast = models.CharField(max_length=200, blank=True)
    remote_model_thinking = models.CharField(max_length=200, blank=True)
    queue = models.CharField(max_length=100, default="cpu", help_text="Celery queue whose workers serve this model.")
    chat_template = models.TextField(blank=True, help_text="Jinja chat template; blank = the model's own.")

    context_length = models.PositiveIntegerField(default=2048, validators=[MinValueValidator(16)])
    default_max_tokens = models.PositiveIntegerField(
        "answer budget", default=256, validators=[MinValueValidator(1)],
        help_text="New tokens of an answer, the same in FAST and THINKING (a request may ask for fewer).",
    )
    max_tokens_limit = models.PositiveIntegerField(default=2048, validators=[MinValueValidator(1)])
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    top_p = models.FloatField(default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    supports_reasoning = models.BooleanField(default=False)

    quantization = models.CharField(max_length=50, blank=True, help_text="FAST: blank = the plan's default.")
    speculative_method = models.CharField(
        max_length=20, choices=_choices(SPECULATIVE_METHODS, SPECULATION_LABELS), default="auto"
    )
    draft_model = models.CharField(max_length=500, blank=True)
    num_speculative_tokens = models.PositiveIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    thinking_dtype = models.CharField(max_length=20, blank=True, help_text="THINKING: blank = bf16 on CUDA, fp32 on CPU.")
    reasoning_max_tokens = models.PositiveIntegerField(
        "reasoning budget", null=True, blank=True,
        help_text="THINKING with reasoning on: reasoning tokens on top of the answer budget; blank = 3 × the answer budget.",
    )

    options = models.JSONField(
        default=dict, blank=True,
        help_text="Backend options passed to the engine (ModelSpec.extra), e.g. {\"gpu_memory_utilization\": 0.45}.",
    )
    preload = models.BooleanField(default=False, help_text="Load (and convert) this model when a worker starts.")
    parallel_slots = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="Answers one engine decodes together (batching); blank = chosen from cores and memory.",
    )
    quality_check = models.BooleanField(
        default=True, help_text="Score every FAST answer against THINKING (costs one THINKING prefill)."
    )

    measurements = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="Last test load and benchmark, per mode: {'test_load': {...}, 'benchmark': {...}}.",
    )
    measured_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        """Field-level messages for a configuration that cannot be served as it stands.

        A note that is not an error (a draft tokenizer that cannot be checked; with separate
        workers, a path or vLLM missing on this web host) is kept in `self.validation_notes`
        for the admin to show.
        """
        if self.options is None:  # the admin's field left empty
            self.options = {}
        found = validation.problems(self)
        self.validation_notes = [p.message for p in found if p.level != "error"]
        errors: dict[str, list[str]] = {}
        for problem in found:
            if problem.level == "error":
                errors.setdefault(problem.field, []).append(problem.message)
        if errors:
            raise ValidationError(errors)

    # The API key belongs to the endpoint it was given for: a change of any of these drops it.
    KEY_BOUND_TO = ("backend", "source")

    def save(self, *args, **kwargs):
        """Drops a stored API key when the endpoint changes and no new key comes with the change.

        Otherwise whoever may change the source could send another admin's key to a server of
        their choosing. `self.api_key_dropped` says it happened, for the admin's message.
        """
        self.api_key_dropped = False
        if self.pk and self.api_key:
            stored = LanguageModel.objects.filter(pk=self.pk).values("api_key", *self.KEY_BOUND_TO).first()
            moved = stored and any(stored[f] != getattr(self, f) for f in self.KEY_BOUND_TO)
            if moved and stored["api_key"] == self.api_key:
                self.api_key = ""
                self.api_key_dropped = True
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "api_key"}
        super().save(*args, **kwargs)

    def to_spec(self) -> ModelSpec:
        """The Django-free description the inference layer works from."""
        return ModelSpec(
            slug=self.slug,
            source=self.source,
            name=self.name,
            description=self.description,
            backend=self.backend,
            gguf_file=self.gguf_file or None,
            chat_template=self.chat_template or None,
            context_length=self.context_length,
            default_max_tokens=self.default_max_tokens,
            max_tokens_limit=self.max_tokens_limit,
            temperature=self.temperature,
            top_p=self.top_p,
            supports_reasoning=self.supports_reasoning,
            quantization=self.quantization or None,
            speculative_method=self.speculative_method,
            draft_model=self.draft_model or None,
            num_speculative_tokens=self.num_speculative_tokens,
            thinking_dtype=self.thinking_dtype or None,
            reasoning_max_tokens=self.reasoning_max_tokens,
            api_key=self.api_key,
            remote_model_fast=self.remote_model_fast or None,
            remote_model_thinking=self.remote_model_thinking or None,
            extra=extra_from_options(self.options if isinstance(self.options, dict) else {}),
        )
