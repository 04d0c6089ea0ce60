"""catalog 0004: the per-mode token budgets become one answer budget plus a reasoning budget."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

migration = importlib.import_module("council.catalog.migrations.0004_answer_and_reasoning_budgets")
BEFORE, AFTER = [("catalog", "0003_options_preload_slots_quality")], [("catalog", "0004_answer_and_reasoning_budgets")]


def test_no_answer_gets_shorter_and_thinkings_extra_tokens_become_reasoning():
    assert migration.budgets(256, None, None, False, 2048) == (256, None)
    assert migration.budgets(256, 512, None, False, 2048) == (512, None)  # FAST's larger budget kept
    assert migration.budgets(256, 128, 1024, False, 2048) == (1024, None)  # no reasoning: all of it was answer
    assert migration.budgets(256, None, 1024, True, 2048) == (256, 768)  # reasoning: the rest is reasoning
    assert migration.budgets(256, 4000, None, False, 2048) == (2048, None)  # within the limit


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_existing_rows_and_back():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("catalog", "LanguageModel")
    old.objects.create(slug="plain", name="Plain", source="/m", default_max_tokens=256, fast_max_tokens=128,
                       thinking_max_tokens=1024)
    old.objects.create(slug="reasoner", name="Reasoner", source="/r", default_max_tokens=256, thinking_max_tokens=1024,
                       supports_reasoning=True)
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("catalog", "LanguageModel")
    rows = {m.slug: (m.default_max_tokens, m.reasoning_max_tokens) for m in new.objects.filter(slug__in=["plain", "reasoner"])}
    assert rows == {"plain": (1024, None), "reasoner": (256, 768)}
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    back = executor.loader.project_state(BEFORE).apps.get_model("catalog", "LanguageModel")
    assert back.objects.get(slug="reasoner").thinking_max_tokens == 1024
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
