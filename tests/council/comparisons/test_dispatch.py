"""The order work is served in: interactive before background, and users fairly between them."""

import threading
import time
from unittest import mock

import pytest
from django.conf import settings
from django.test import override_settings

from council import background
from council.comparisons import dispatch
from council.comparisons.models import Comparison, Response, Status
from tests.conftest import _stop, requires_services, start_worker


def queued_answers(owner, model, count, prompt="Say hi."):
    """`count` comparisons of one queued answer each, as `owner` would start them one after another."""
    answers = []
    for _ in range(count):
        comparison = Comparison.objects.create(owner=owner, prompt=prompt, mode="fast", max_tokens=1)
        answers.append(Response.objects.create(comparison=comparison, model=model, mode="fast"))
    return answers


def test_the_brokers_priority_lists_are_the_ones_dispatch_uses():
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["priority_steps"] == dispatch.PRIORITY_STEPS
    assert options["sep"] == dispatch.PRIORITY_SEP
    assert dispatch.PRIORITY_INTERACTIVE == 0 < dispatch.PRIORITY_BACKGROUND == max(dispatch.PRIORITY_STEPS)


@pytest.mark.django_db
def test_a_users_nth_waiting_answer_goes_behind_other_users_first_ones(alice, bob, bundled):
    model = bundled["smollm2-135m-instruct"]
    alices = queued_answers(alice, model, 3)
    assert dispatch.fair_priorities(alices) == [0, 1, 2]
    [bobs] = queued_answers(bob, model, 1)
    assert dispatch.fair_priorities([bobs]) == [0]
    Response.objects.filter(id=alices[0].id).update(status=Status.RUNNING)  # running is not waiting
    assert dispatch.fair_priorities(alices[1:]) == [0, 1]


@pytest.mark.django_db
def test_in_process_a_users_backlog_does_not_hold_another_users_answer_and_background_goes_last(alice, bob, bundled):
    """One busy in-process worker; alice queues six answers, a prompt-set item, then bob one answer."""
    model = bundled["smollm2-135m-instruct"]
    started = []
    busy = threading.Event()
    release = threading.Event()

    def occupy():
        busy.set()
        release.wait(timeout=30)

    pool = background.PriorityPool(max_workers=1, thread_name_prefix="test-task")
    with override_settings(COUNCIL_INPROCESS_TASKS=True), mock.patch.object(background, "_pool", pool), mock.patch(
        "council.comparisons.runner.run_response", side_effect=started.append
    ):
        pool.submit(0, occupy)
        assert busy.wait(timeout=10)
        alices = queued_answers(alice, model, 6)
        for answer in alices:
            dispatch.enqueue([answer])
        [item] = queued_answers(alice, model, 1, prompt="A prompt-set item")
        dispatch.enqueue([item], background=True)
        [bobs] = queued_answers(bob, model, 1)
        dispatch.enqueue([bobs])
        release.set()
        deadline = time.monotonic() + 30
        while len(started) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)

    order = [str(r.id) for r in [*alices, item, bobs]]
    assert sorted(started) == sorted(order)
    assert started.index(str(bobs.id)) <= 1, "bob's only answer waits behind at most alice's first"
    assert started[-1] == str(item.id), "background work runs after every queued interactive answer"


@requires_services
def test_a_celery_worker_serves_another_users_answer_before_most_of_a_backlog(alice, bob, bundled, worker_queue, tmp_path):
    """Everything is queued before the one-slot worker starts, as if it were busy meanwhile."""
    model = bundled["smollm2-135m-instruct"]
    model.queue = worker_queue
    model.save()
    alices = queued_answers(alice, model, 6)
    for answer in alices:
        dispatch.enqueue([answer])
    [item] = queued_answers(alice, model, 1, prompt="A prompt-set item")
    dispatch.enqueue([item], background=True)
    [bobs] = queued_answers(bob, model, 1)
    dispatch.enqueue([bobs])

    worker = start_worker(worker_queue, tmp_path / "worker.log", concurrency=1)
    try:
        deadline = time.monotonic() + 120
        while Response.objects.exclude(status__in=[Status.DONE, Status.FAILED]).exists():
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.2)
    finally:
        _stop(worker)

    started = list(Response.objects.order_by("started_at").values_list("id", flat=True))
    assert started.index(bobs.id) <= 1, "bob's only answer waits behind at most alice's first"
    assert started[-1] == item.id, "background work runs after every queued interactive answer"
