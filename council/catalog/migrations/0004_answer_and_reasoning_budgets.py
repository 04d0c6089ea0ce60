"""One answer budget for both modes plus a reasoning budget for THINKING, replacing the
per-mode token budgets (FAST never shortens an answer)."""

import django.core.validators
from django.db import migrations, models


def budgets(default: int, fast: int | None, thinking: int | None, reasoning: bool, limit: int) -> tuple[int, int | None]:
    """(answer budget, reasoning budget) from the old per-mode budgets, shortening no answer.

    The answer budget is the larger of the old FAST budget and, for a model without
    reasoning, the old THINKING budget (all of it was answer); for a model with reasoning,
    what the old THINKING budget held beyond the answer becomes its reasoning budget.
    """
    answer = max(default, fast or 0, 0 if reasoning else (thinking or 0))
    answer = min(answer, limit)
    extra = None
    if reasoning and thinking and thinking > answer:
        extra = thinking - answer
    return answer, extra


def forwards(apps, schema_editor):
    LanguageModel = apps.get_model("catalog", "LanguageModel")
    for model in LanguageModel.objects.all():
        answer, extra = budgets(model.default_max_tokens, model.fast_max_tokens, model.thinking_max_tokens,
                                model.supports_reasoning, model.max_tokens_limit)
        LanguageModel.objects.filter(pk=model.pk).update(default_max_tokens=answer, reasoning_max_tokens=extra)


def backwards(apps, schema_editor):
    LanguageModel = apps.get_model("catalog", "LanguageModel")
    for model in LanguageModel.objects.exclude(reasoning_max_tokens=None):
        LanguageModel.objects.filter(pk=model.pk).update(
            thinking_max_tokens=model.default_max_tokens + model.reasoning_max_tokens
        )


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0003_options_preload_slots_quality"),
    ]

    operations = [
        migrations.AddField(
            model_name="languagemodel",
            name="reasoning_max_tokens",
            field=models.PositiveIntegerField(
                blank=True, null=True, verbose_name="reasoning budget",
                help_text="THINKING with reasoning on: reasoning tokens on top of the answer budget; blank = 3 × the answer budget.",
            ),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="languagemodel", name="fast_max_tokens"),
        migrations.RemoveField(model_name="languagemodel", name="thinking_max_tokens"),
        migrations.AlterField(
            model_name="languagemodel",
            name="default_max_tokens",
            field=models.PositiveIntegerField(
                default=256, validators=[django.core.validators.MinValueValidator(1)], verbose_name="answer budget",
                help_text="New tokens of an answer, the same in FAST and THINKING (a request may ask for fewer).",
            ),
        ),
    ]
