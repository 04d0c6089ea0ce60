"""The thread budget: answers decoding at once share the process's cores, never more."""

import contextlib
import threading

import pytest

from inference import threads


@pytest.fixture
def cores(monkeypatch):
    def set_cores(n):
        monkeypatch.setenv("COUNCIL_THREADS", str(n))
        return n

    return set_cores


def test_the_budget_defaults_to_the_cores_this_process_may_use(monkeypatch):
    import os

    monkeypatch.delenv("COUNCIL_THREADS", raising=False)
    assert threads.budget() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("n_cores", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("n_answers", [1, 2, 3, 4, 5, 9])
def test_the_shares_of_answers_decoding_at_once_never_sum_past_the_cores(cores, n_cores, n_answers):
    cores(n_cores)
    with contextlib.ExitStack() as stack:
        leases = [stack.enter_context(threads.decoding("llamacpp")) for _ in range(n_answers)]
        shares = [lease.share() for lease in leases]
    assert all(share >= 1 for share in shares)
    if n_answers <= n_cores:
        assert sum(shares) == n_cores  # every core is used
    else:
        assert shares == [1] * n_answers  # more answers than cores: one thread each, taking turns


def test_one_answer_alone_gets_every_core_and_a_second_one_halves_it(cores):
    cores(2)
    with threads.decoding("llamacpp") as first:
        assert first.share() == 2
        with threads.decoding("torch") as second:
            assert (first.share(), second.share()) == (1, 1)
        assert first.share() == 2


def test_a_batched_engine_is_one_consumer_however_many_answers_it_decodes(cores):
    cores(4)
    with threads.consumer("llamacpp-batch") as batch, threads.decoding("torch") as alone:
        with threads.answer(), threads.answer(), threads.answer() as third:
            assert (batch.share(), alone.share()) == (2, 2)
            assert threads.snapshot()["answers"] == 4
        assert third.peak == 4
    assert alone.conditions()["concurrent_streams"] == 4


def test_steps_in_flight_never_hold_more_threads_than_the_cores_and_every_answer_progresses(cores):
    """Six answers on two cores, each making decode steps from its own thread at once."""
    cores(2)
    lock = threading.Lock()
    in_flight = [0, 0]  # threads held now, most ever held
    steps = [0] * 6
    start = threading.Barrier(6)

    def answer(i):
        with threads.decoding("llamacpp") as lease:
            start.wait(timeout=10)
            for _ in range(40):
                with lease.step() as n:
                    with lock:
                        in_flight[0] += n
                        in_flight[1] = max(in_flight[1], in_flight[0])
                    steps[i] += 1
                    with lock:
                        in_flight[0] -= n

    workers = [threading.Thread(target=answer, args=(i,)) for i in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)
    assert in_flight[1] <= 2
    assert steps == [40] * 6
    assert threads.snapshot() == {"cores": 2, "consumers": [], "answers": 0, "threads_in_use": 0, "waiting": 0}


def test_paced_tokens_set_the_thread_count_before_a_step_only_when_it_changes(cores):
    cores(2)
    applied = []
    with threads.decoding("llamacpp") as lease:
        tokens = lease.paced(iter(range(5)), applied.append)
        assert next(tokens) == 0
        with threads.decoding("torch"):
            assert next(tokens) == 1
            assert next(tokens) == 2
        assert list(tokens) == [3, 4]
        conditions = lease.conditions()
    assert applied == [2, 1, 2]
    assert conditions["threads"] == 2 and conditions["cores"] == 2 and conditions["concurrent_streams"] == 2
    by = {(c["threads"], c["streams"]): c["tokens"] for c in conditions["decode_by_condition"]}
    assert by == {(1, 2): 2, (2, 1): 2}  # the first token (prefill) is not a decode rate


def test_the_terminal_event_carries_the_conditions_it_ran_under(cores):
    from inference.types import Metrics, StreamEvent

    cores(2)
    with threads.decoding("llamacpp") as lease:
        events = list(threads.with_conditions(iter([StreamEvent.delta("a"), StreamEvent.done(Metrics(engine="x"))]), lease))
    assert events[0].text == "a"
    assert events[1].metrics.engine == "x" and events[1].metrics.cores == 2
    assert events[1].metrics.concurrent_streams == 1


def test_torch_threads_are_set_per_decoding_thread():
    """The assumption the budget rests on for torch: set_num_threads in one thread leaves the others' alone."""
    torch = pytest.importorskip("torch")
    seen = {}

    def decode(name, n):
        threads.set_torch_threads(n)
        barrier.wait(timeout=10)
        seen[name] = torch.get_num_threads()

    barrier = threading.Barrier(2)
    workers = [threading.Thread(target=decode, args=("a", 1)), threading.Thread(target=decode, args=("b", 2))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert seen == {"a": 1, "b": 2}
