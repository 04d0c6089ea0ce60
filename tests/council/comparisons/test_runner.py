"""The worker side, run in this process on the real llama.cpp engine and the Redis channel layer."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from council.comparisons import cancellation
from council.comparisons.events import group_for
from council.comparisons.models import Comparison, Response, Status
from council.comparisons.runner import claim, run_response
from council.comparisons.streaming import DeltaBuffer
from tests.conftest import requires_services

pytestmark = [pytest.mark.django_db(transaction=True), requires_services]


def make_response(owner, model, prompt="Name three colours.", mode="fast", max_tokens=24):
    comparison = Comparison.objects.create(owner=owner, prompt=prompt, mode=mode, max_tokens=max_tokens)
    return Response.objects.create(comparison=comparison, model=model, mode=mode)


class Listener:
    """Joins a comparison's group on the channel layer and collects what the worker publishes."""

    def __init__(self, comparison_id):
        self.layer = get_channel_layer()
        self.group = group_for(comparison_id)
        self.loop = asyncio.new_event_loop()
        self.channel = self.loop.run_until_complete(self.layer.new_channel())
        self.loop.run_until_complete(self.layer.group_add(self.group, self.channel))

    def drain(self, timeout=2.0):
        messages = []
        while True:
            try:
                messages.append(self.loop.run_until_complete(asyncio.wait_for(self.layer.receive(self.channel), timeout)))
            except asyncio.TimeoutError:
                self.loop.close()
                return messages


def test_a_duplicate_delivery_does_the_work_once(alice, bundled):
    response = make_response(alice, bundled["smollm2-135m-instruct"], max_tokens=4)
    assert run_response(response.id) == Status.DONE
    first = Response.objects.get(id=response.id)
    assert run_response(response.id) is None
    assert Response.objects.get(id=response.id).finished_at == first.finished_at


def test_only_one_of_two_claims_wins(alice, bundled):
    response = make_response(alice, bundled["smollm2-135m-instruct"])
    assert [claim(response.id), claim(response.id)] == [True, False]


def test_the_stored_text_equals_the_published_deltas_in_order(alice, bundled):
    response = make_response(alice, bundled["smollm2-135m-instruct"], max_tokens=48)
    listener = Listener(response.comparison_id)
    assert run_response(response.id) == Status.DONE
    messages = listener.drain()
    deltas = [m for m in messages if m["type"] == "response.delta"]
    statuses = [m["status"] for m in messages if m["type"] == "response.status"]
    stored = Response.objects.get(id=response.id)
    assert statuses == ["running", "done"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert "".join(d["text"] for d in deltas if d["kind"] == "answer") == stored.text != ""
    assert stored.seq == deltas[-1]["seq"]
    assert stored.metrics["completion_tokens"] > 0 and stored.metrics["engine"] == "llamacpp"
    assert stored.metrics["ttft_ms"] > 0 and stored.metrics["decode_tokens_per_s"] > 0


def test_a_stop_request_ends_a_running_response_as_cancelled(alice, bundled):
    response = make_response(alice, bundled["smollm2-135m-instruct"], max_tokens=400)
    cancellation.request_cancel(response.id)  # seen at the first flush
    assert run_response(response.id) == Status.CANCELLED
    stored = Response.objects.get(id=response.id)
    assert stored.metrics["completion_tokens"] < 400


def test_a_model_that_cannot_load_fails_in_its_own_column(alice, bundled):
    model = bundled["gemma-3-270m"]
    model.source = "/nowhere/model.gguf"
    model.gguf_file = "/nowhere/model.gguf"
    model.save()
    response = make_response(alice, model)
    assert run_response(response.id) == Status.FAILED
    stored = Response.objects.get(id=response.id)
    assert "/nowhere/model.gguf" in stored.error


def test_the_delta_buffer_coalesces_by_count_and_splits_on_a_change_of_kind():
    now = [0.0]
    buffer = DeltaBuffer(interval=0.05, max_tokens=3, clock=lambda: now[0])
    (first,) = buffer.add("0", "reasoning")  # the first token leaves at once: time to first token
    assert (first.seq, first.text) == (1, "0")
    assert buffer.add("a", "reasoning") == []
    assert buffer.add("b", "reasoning") == []
    (chunk,) = buffer.add("c", "reasoning")
    assert (chunk.seq, chunk.text, chunk.kind) == (2, "abc", "reasoning")
    assert buffer.add("d", "reasoning") == []
    (chunk,) = buffer.add("e", "answer")  # the reasoning part leaves first, alone
    assert (chunk.seq, chunk.text, chunk.kind) == (3, "d", "reasoning")
    now[0] = 0.06
    (chunk,) = buffer.add("f", "answer")
    assert (chunk.seq, chunk.text, chunk.kind) == (4, "ef", "answer")
    assert buffer.flush() is None


def test_the_delta_buffer_sends_each_token_of_a_slow_stream_at_once():
    now = [0.0]
    buffer = DeltaBuffer(interval=0.05, max_tokens=16, clock=lambda: now[0])
    chunks = []
    for i in range(3):
        now[0] += 0.1  # 10 tokens a second
        chunks += buffer.add(str(i), "answer")
    assert [(c.seq, c.text) for c in chunks] == [(1, "0"), (2, "1"), (3, "2")]


def test_the_runner_stores_how_many_earlier_turns_it_left_out_to_fit_the_context(alice, bundled):
    model = bundled["smollm2-135m-instruct"]
    model.context_length, model.max_tokens_limit = 512, 8
    model.save()
    first = make_response(alice, model, prompt="Say hi.", max_tokens=8)
    Response.objects.filter(id=first.id).update(status=Status.DONE, text="x " * 1000)
    comparison = Comparison.objects.create(
        owner=alice, prompt="Say hi again.", mode="fast", max_tokens=8, parent=first.comparison
    )
    second = Response.objects.create(comparison=comparison, model=model, mode="fast", previous=first)
    assert run_response(second.id) == Status.DONE
    stored = Response.objects.get(id=second.id)
    assert stored.truncated_turns == 1 and stored.metrics["prompt_tokens"] < 100


class ScriptedEngine:
    """Stands in for a model whose timing the test controls (the runner's logic does not depend on one)."""

    def __init__(self, tokens: int, on_done=None):
        self.tokens = tokens
        self.on_done = on_done
        self.cancelled = []

    def stream(self, request):
        from inference.types import Metrics, StreamEvent

        for i in range(self.tokens):
            yield StreamEvent.delta(f"t{i} ")
        if self.on_done:
            self.on_done()
        yield StreamEvent.done(Metrics(completion_tokens=self.tokens, engine="scripted"))

    def cancel(self, request_id):
        self.cancelled.append(request_id)

    def describe(self):
        return {"backend": "scripted"}


@pytest.fixture
def scripted(monkeypatch):
    """Installs a ScriptedEngine as the engine of any model; `load_seconds` makes its load take that long."""
    from inference import registry

    def use(engine, load_seconds=0.0):
        def load(spec, plan):
            import time

            time.sleep(load_seconds)
            return engine

        registry.clear()
        monkeypatch.setattr(registry, "_load", load)
        return engine

    yield use
    registry.clear()


def test_a_slow_database_does_not_slow_decoding(alice, bundled, scripted, monkeypatch):
    """The first append waits until the engine has produced its last token: were storing on the
    decoding thread, the engine could never get there and the wait would time out."""
    import threading

    from council.comparisons.runner import ResponseSink

    engine_done = threading.Event()
    waited = []
    store = ResponseSink._store

    def slow_store(self, chunk):
        if not waited:
            waited.append(engine_done.wait(timeout=30))
        return store(self, chunk)

    monkeypatch.setattr(ResponseSink, "_store", slow_store)
    scripted(ScriptedEngine(tokens=300, on_done=engine_done.set))
    response = make_response(alice, bundled["smollm2-135m-instruct"])
    listener = Listener(response.comparison_id)
    assert run_response(response.id) == Status.DONE
    assert waited == [True]
    stored = Response.objects.get(id=response.id)
    deltas = [m for m in listener.drain() if m["type"] == "response.delta"]
    assert stored.text == "".join(f"t{i} " for i in range(300)) == "".join(d["text"] for d in deltas)
    # What piled up behind the slow write left in one chunk, numbered on without a gap.
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1)) and len(deltas) <= 3
    assert stored.seq == deltas[-1]["seq"]


def test_the_load_an_answer_waited_for_is_its_own_figure_never_part_of_ttft(alice, bundled, scripted):
    """The scripted engine reports no TTFT of its own, so the runner's figure is the one stored.
    Its first token comes at once after a 1.5 s load; the margin is the load itself."""
    scripted(ScriptedEngine(tokens=5), load_seconds=1.5)
    response = make_response(alice, bundled["smollm2-135m-instruct"])
    assert run_response(response.id) == Status.DONE
    metrics = Response.objects.get(id=response.id).metrics
    assert metrics["load_ms"] >= 1500
    assert metrics["ttft_ms"] < 1500
    again = make_response(alice, bundled["smollm2-135m-instruct"])
    assert run_response(again.id) == Status.DONE
    assert Response.objects.get(id=again.id).metrics["load_ms"] is None  # loaded already: nothing to wait for


def test_a_column_whose_model_is_loading_says_so_until_its_first_token(alice, bundled, scripted, monkeypatch):
    from council.comparisons.runner import ResponseSink

    seen = []
    store = ResponseSink._store

    def spy(self, chunk):
        seen.append(Response.objects.get(id=self.response.id).metrics)
        return store(self, chunk)

    monkeypatch.setattr(ResponseSink, "_store", spy)
    scripted(ScriptedEngine(tokens=3))
    response = make_response(alice, bundled["smollm2-135m-instruct"])
    assert run_response(response.id) == Status.DONE
    assert seen[0] == {"loading": True}
    assert "loading" not in Response.objects.get(id=response.id).metrics
