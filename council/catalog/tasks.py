"""Celery tasks of the catalog, where Celery's autodiscovery looks for them; they live with the jobs they run."""

from council.catalog.measure import benchmark_task, test_load_task

__all__ = ["benchmark_task", "test_load_task"]
