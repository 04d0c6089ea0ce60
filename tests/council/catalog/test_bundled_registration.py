"""The bundled models are registered once, and admin edits survive a second registration."""

from council.catalog.bundled import register_bundled_models
from council.catalog.models import LanguageModel


def test_registering_twice_creates_each_bundled_model_once(bundled):
    assert set(bundled) == {"smollm2-135m-instruct", "gemma-3-270m"}
    assert register_bundled_models() == []
    assert LanguageModel.objects.count() == 2


def test_registering_again_keeps_the_edits_made_in_the_admin(bundled):
    LanguageModel.objects.filter(slug="gemma-3-270m").update(name="Gemma (mine)", enabled=False, queue="cpu-big")
    register_bundled_models()
    gemma = LanguageModel.objects.get(slug="gemma-3-270m")
    assert (gemma.name, gemma.enabled, gemma.queue) == ("Gemma (mine)", False, "cpu-big")


def test_a_deleted_bundled_model_comes_back(bundled):
    LanguageModel.objects.filter(slug="gemma-3-270m").delete()
    assert register_bundled_models() == ["gemma-3-270m"]
