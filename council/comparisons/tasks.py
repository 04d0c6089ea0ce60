"""Celery tasks: ids in, work done by the runner."""

from celery import shared_task

from council.comparisons import quality
from council.comparisons.runner import run_response


@shared_task(name="comparisons.run_response", ignore_result=True)
def run_response_task(response_id: str) -> None:
    run_response(response_id)


@shared_task(name="comparisons.measure_quality", ignore_result=True)
def measure_quality_task(response_id: str) -> None:
    quality.measure(response_id)
