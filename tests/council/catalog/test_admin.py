"""The LanguageModel admin: grouped fields, the API key kept secret, validation messages, measurements shown."""

import pytest
from django.test import Client

from council.catalog.models import LanguageModel


@pytest.fixture
def staff(admin):
    client = Client()
    client.force_login(admin)
    return client


def form_data(model: LanguageModel, **changes) -> dict:
    fields = [
        "name", "slug", "description", "order", "source", "gguf_file", "remote_model_fast",
        "remote_model_thinking", "chat_template", "backend", "queue", "context_length", "default_max_tokens",
        "max_tokens_limit", "temperature", "top_p", "quantization", "speculative_method", "draft_model",
        "num_speculative_tokens", "thinking_dtype",
    ]
    data = {name: getattr(model, name) for name in fields}
    data.update(reasoning_max_tokens=model.reasoning_max_tokens or "")
    if model.quality_check:
        data["quality_check"] = "on"
    if model.enabled:
        data["enabled"] = "on"
    if model.supports_reasoning:
        data["supports_reasoning"] = "on"
    data["api_key"] = ""
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def change_url(model):
    return f"/admin/catalog/languagemodel/{model.pk}/change/"


def test_the_change_page_groups_the_fields_by_concern(staff, bundled):
    page = staff.get(change_url(bundled["smollm2-135m-instruct"])).content.decode()
    for heading in ["Identity", "Source", "Backend", "Limits", "Sampling defaults", "FAST mode", "THINKING mode", "Measured"]:
        assert f">{heading}<" in page
    assert "Reasoning on (THINKING)" in page


def test_the_stored_api_key_is_never_sent_to_the_browser(staff, bundled):
    model = bundled["smollm2-135m-instruct"]
    model.api_key = "sk-secret-value"
    model.save()
    page = staff.get(change_url(model)).content.decode()
    assert "sk-secret-value" not in page
    assert 'type="password" name="api_key"' in page
    assert "A key is stored" in page


def test_a_blank_api_key_keeps_the_stored_one_and_a_new_one_replaces_it(staff, bundled):
    model = bundled["smollm2-135m-instruct"]
    model.api_key = "sk-old"
    model.save()
    response = staff.post(change_url(model), form_data(model, description="edited"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    model.refresh_from_db()
    assert (model.description, model.api_key) == ("edited", "sk-old")

    staff.post(change_url(model), form_data(model, api_key="sk-new"))
    model.refresh_from_db()
    assert model.api_key == "sk-new"

    staff.post(change_url(model), form_data(model, clear_api_key="on"))
    model.refresh_from_db()
    assert model.api_key == ""


def test_an_invalid_configuration_is_shown_next_to_its_field(staff, bundled):
    model = bundled["smollm2-135m-instruct"]
    response = staff.post(change_url(model), form_data(model, backend="openai", source="not-a-url", default_max_tokens=99999))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "http://" in errors["source"][0]
    assert "more than the max tokens limit" in errors["default_max_tokens"][0]
    model.refresh_from_db()
    assert model.backend == "auto"


def test_a_draft_tokenizer_that_cannot_be_checked_is_a_warning_after_saving(staff, bundled):
    model = bundled["smollm2-135m-instruct"]
    response = staff.post(change_url(model), form_data(model, draft_model="org/small"), follow=True)
    assert "could not be checked" in response.content.decode()
    model.refresh_from_db()
    assert model.draft_model == "org/small"


def test_the_measurements_are_shown_formatted(staff, bundled):
    model = bundled["smollm2-135m-instruct"]
    model.measurements = {
        "test_load": {
            "fast": {"ok": True, "ttft_ms": 41.7, "decode_tokens_per_s": 123.45, "engine": "llamacpp",
                     "sample": "Hello there", "at": "2026-11-27T12:00:00"},
            "thinking": {"ok": False, "error": "out of memory", "at": "2026-11-27T12:00:01"},
        },
        "benchmark": {"fast_decode_tokens_per_s": 130.0, "thinking_decode_tokens_per_s": 30.0, "speedup": 4.33,
                      "perplexity_delta": 0.12, "top1_agreement": 0.91, "at": "2026-11-27T12:01:00", "max_tokens": 32},
    }
    model.save()
    page = staff.get(change_url(model)).content.decode()
    assert "TTFT 42 ms, 123.5 tok/s on llamacpp" in page and "Hello there" in page
    assert "failed (2026-11-27T12:00:01): out of memory" in page
    assert "4.33×" in page and "0.91" in page and "0.12" in page


def test_non_staff_cannot_reach_the_model_admin(alice, bundled):
    client = Client()
    client.force_login(alice)
    response = client.get(change_url(bundled["smollm2-135m-instruct"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_model_list_links_to_the_health_page_and_offers_both_actions(staff, bundled):
    page = staff.get("/admin/catalog/languagemodel/").content.decode()
    assert 'href="/health/"' in page
    assert 'value="test_load"' in page and 'value="benchmark"' in page
