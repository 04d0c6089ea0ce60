import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from council.catalog import measure, validation
from council.catalog.models import LanguageModel
from inference import BACKENDS, engine_options


class LanguageModelForm(forms.ModelForm):
    """The API key is a secret: never sent back to the browser; left blank, the stored one stays."""

    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Bearer key for an OpenAI-compatible server. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    user = None  # the person saving; set per request by LanguageModelAdmin.get_form

    class Meta:
        model = LanguageModel
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored_key = self.instance.api_key if self.instance.pk else ""
        if self._stored_key:
            self.fields["api_key"].help_text = "A key is stored (not shown). " + self.fields["api_key"].help_text

    def clean_api_key(self):
        if self.cleaned_data.get("clear_api_key"):
            return ""
        return self.cleaned_data.get("api_key") or self._stored_key

    def clean(self):
        """An openai model's server is chosen by a superuser, or by staff among the allowlisted ones."""
        cleaned = super().clean()
        backend, source = cleaned.get("backend"), cleaned.get("source")
        endpoint_changed = not self.instance.pk or {"backend", "source"} & set(self.changed_data)
        if backend == "openai" and source and endpoint_changed:
            error = validation.remote_url_error(self.user, source, settings.COUNCIL_REMOTE_URL_ALLOWLIST)
            if error:
                self.add_error("source", error)
        return cleaned

    def _post_clean(self):
        # clear_api_key is declared after api_key, so read it here where all fields are clean.
        if self.cleaned_data.get("clear_api_key"):
            self.cleaned_data["api_key"] = ""
        super()._post_clean()


OPTION_KINDS = {int: "integer", float: "number", bool: "true / false", str: "text", dict: "JSON object"}


def options_help() -> str:
    """What each backend's engines read from a model's options, with kinds and defaults (docs/gpu.md)."""
    sections = []
    for backend in BACKENDS:
        rows = format_html_join(
            "", "<li><code>{}</code> ({}, default {}): {}</li>",
            ((o.name, OPTION_KINDS[o.kind], json.dumps(o.default), o.help) for o in engine_options(backend)),
        )
        if rows:
            sections.append(format_html("<p>{} backend:</p><ul>{}</ul>", backend, rows))
    intro = format_html("A JSON object of per-model settings the engine reads, e.g. {}; checked against the backend.",
                        '{"gpu_memory_utilization": 0.45}')
    return format_html("{}{}", intro, format_html_join("", "{}", ((s,) for s in sections)))


def _figure(value, unit="", digits=1):
    if value is None:
        return "—"
    if isinstance(value, float):
        value = round(value, digits) if digits else round(value)
    return f"{value}{unit}"


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    form = LanguageModelForm
    list_display = ["name", "slug", "backend", "queue", "enabled", "order", "fast_speed", "measured_at"]
    list_editable = ["enabled", "order"]
    list_filter = ["backend", "queue", "enabled"]
    search_fields = ["name", "slug", "source"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["test_load_figures", "benchmark_figures", "measured_at"]
    actions = ["test_load", "benchmark"]
    fieldsets = [
        ("Identity", {"fields": ["name", "slug", "description", "enabled", "order"]}),
        ("Source", {
            "fields": ["source", "gguf_file", "api_key", "clear_api_key", "remote_model_fast",
                       "remote_model_thinking", "chat_template"],
            "description": "A bundled model's slug, a local path, a hub id (org/name), or for the "
                           "openai backend the server's base URL.",
        }),
        ("Backend", {"fields": ["backend", "queue", "options"]}),
        ("Limits", {"fields": ["context_length", "default_max_tokens", "max_tokens_limit"]}),
        ("Sampling defaults", {"fields": ["temperature", "top_p"]}),
        ("FAST mode", {"fields": ["quantization", "speculative_method", "draft_model",
                                  "num_speculative_tokens", "quality_check"]}),
        ("THINKING mode", {"fields": ["thinking_dtype", "supports_reasoning", "reasoning_max_tokens"]}),
        ("Measured", {"fields": ["test_load_figures", "benchmark_figures", "measured_at"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form = type(form.__name__, (form,), {"user": request.user})  # its clean() knows who saves
        form.base_fields["supports_reasoning"].label = "Reasoning on (THINKING)"
        form.base_fields["default_max_tokens"].label = "Answer budget (both modes)"
        form.base_fields["reasoning_max_tokens"].label = "Reasoning budget (THINKING)"
        form.base_fields["quality_check"].label = "Check every FAST answer against THINKING"
        form.base_fields["options"].help_text = options_help()
        return form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if getattr(obj, "api_key_dropped", False):
            messages.warning(request, "The stored API key was removed because the source or backend changed; "
                                      "enter the key again if this server needs one.")
        for note in getattr(obj, "validation_notes", []):
            messages.warning(request, note)

    @admin.display(description="FAST tok/s")
    def fast_speed(self, obj):
        result = (obj.measurements or {}).get("test_load", {}).get("fast") or {}
        return _figure(result.get("decode_tokens_per_s")) if result.get("ok") else ("error" if result else "—")

    @admin.display(description="Last test load")
    def test_load_figures(self, obj):
        results = (obj.measurements or {}).get("test_load") or {}
        if not results:
            return "Not run yet: select the model in the list and run “Test load”."
        rows = []
        for mode in measure.MODES:
            r = results.get(mode)
            if r is None:
                rows.append((mode.upper(), "not run"))
            elif r.get("ok"):
                rows.append((mode.upper(), (
                    f"TTFT {_figure(r.get('ttft_ms'), ' ms', 0)}, {_figure(r.get('decode_tokens_per_s'))} tok/s "
                    f"on {r.get('engine') or '?'} ({r.get('at', '')[:19]}): “{r.get('sample', '')}”"
                )))
            else:
                said = f" Server said: {r['detail']}" if r.get("detail") else ""
                rows.append((mode.upper(), f"failed ({r.get('at', '')[:19]}): {r.get('error')}{said}"))
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))

    @admin.display(description="Last benchmark")
    def benchmark_figures(self, obj):
        b = (obj.measurements or {}).get("benchmark")
        if not b:
            return "Not run yet: select the model in the list and run “Benchmark”."
        rows = [
            ("FAST decode", _figure(b.get("fast_decode_tokens_per_s"), " tok/s")),
            ("THINKING decode", _figure(b.get("thinking_decode_tokens_per_s"), " tok/s")),
            ("Speedup", _figure(b.get("speedup"), "×", 2)),
            ("FAST + n-gram decode", _figure(b.get("fast_ngram_decode_tokens_per_s"), " tok/s")),
            ("Perplexity delta (FAST − THINKING)", _figure(b.get("perplexity_delta"), "", 3)),
            ("Perplexity increase", _figure(b.get("ppl_increase_pct"), " %", 2)),
            ("Top-1 agreement", _figure(b.get("top1_agreement"), "", 3)),
            ("Measured", f"{(b.get('at') or '')[:19]}, {b.get('max_tokens')} tokens"),
        ]
        if b.get("error"):
            rows.append(("Error", b["error"]))
        if b.get("note"):
            rows.append(("Note", b["note"]))
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))

    def _send(self, request, queryset, job, label):
        for model in queryset:
            try:
                where = measure.enqueue(job, model)
            except Exception as exc:  # broker down: say so instead of a 500
                self.message_user(request, f"{model}: could not queue the {label} ({exc}).", messages.ERROR)
                continue
            self.message_user(
                request, f"{model}: {label} started on {where}; reload this page for the figures.", messages.INFO
            )

    @admin.action(description="Test load (a short generation in FAST and THINKING)")
    def test_load(self, request, queryset):
        self._send(request, queryset, "test_load", "test load")

    @admin.action(description="Benchmark (FAST vs THINKING speed and quality)")
    def benchmark(self, request, queryset):
        self._send(request, queryset, "benchmark", "benchmark")
