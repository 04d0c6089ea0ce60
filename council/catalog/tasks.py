"""Celery tasks of the catalog: ids in, measurements stored on the model row."""

from celery import shared_task

from council.catalog import measure


@shared_task(name="catalog.test_load", ignore_result=True)
def test_load_task(model_id: int, modes=measure.MODES) -> None:
    measure.run_test_load(model_id, modes=tuple(modes))


@shared_task(name="catalog.benchmark", ignore_result=True)
def benchmark_task(model_id: int, max_tokens: int = measure.BENCH_MAX_TOKENS) -> None:
    measure.run_benchmark(model_id, max_tokens=max_tokens)
