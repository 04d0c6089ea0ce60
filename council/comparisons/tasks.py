"""Celery tasks: ids in, work done by the runner."""

from celery import shared_task

from council.comparisons.runner import run_response


@shared_task(name="comparisons.run_response", ignore_result=True)
def run_response_task(response_id: str) -> None:
    run_response(response_id)
