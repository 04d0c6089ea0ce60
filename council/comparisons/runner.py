"""The worker side of one Response: claim it, stream it, publish and store it."""

from __future__ import annotations

import logging
import queue
import threading
import time

from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from council.comparisons import cancellation
from council.comparisons.events import Publisher, status_message
from council.comparisons.models import Response, Status
from council.comparisons.streaming import DeltaBuffer, LiveFigures
from council.comparisons.sweeper import Heartbeat
from inference import (
    EngineError, GenerationRequest, Message, Metrics, Mode, StreamEvent, get_engine_timed, is_engine_loaded, resolve,
)

log = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.05  # a Stop reaches the engine within this, plus one decode step
_TERMINAL_STATUS = {"done": Status.DONE, "error": Status.FAILED, "cancelled": Status.CANCELLED}


def claim(response_id) -> bool:
    """Move the row from queued to running; False if another delivery (or a cancel) got there first."""
    now = timezone.now()
    return Response.objects.filter(id=response_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    ) == 1


# A cheap, deliberately high estimate (no tokenizer in this process): about 3 characters a
# token for English text, plus the chat template's few tokens around each message. A prompt
# it underestimates (dense scripts) still meets the engine's clear "longer than context" error.
CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 8


def estimate_tokens(messages) -> int:
    return sum(len(m.content) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE for m in messages)


def earlier_turns(response: Response) -> list[tuple[str, str]]:
    """(user prompt, this column's answer) of each earlier turn, oldest first.

    Only this column's own answers, never another model's. A turn whose answer has no text
    (it failed before its first token) is left out whole, since chat templates want user and
    assistant to alternate; a stopped answer counts with its partial text.
    """
    turns = []
    previous = response.previous
    while previous is not None:
        if previous.text:
            turns.append((previous.comparison.prompt, previous.text))
        previous = previous.previous
    return turns[::-1]


def conversation(response: Response, budget_tokens: int) -> tuple[list[Message], int]:
    """The messages for `response`, and how many of the oldest earlier turns were dropped to fit `budget_tokens`.

    The system prompt and the new prompt always stay: if they alone do not fit, the engine
    says so in the column.
    """
    comparison = response.comparison
    head = [Message("system", comparison.system_prompt)] if comparison.system_prompt else []
    tail = [Message("user", comparison.prompt)]
    turns = [(Message("user", prompt), Message("assistant", answer)) for prompt, answer in earlier_turns(response)]
    dropped = 0
    while turns and estimate_tokens([*head, *(m for turn in turns for m in turn), *tail]) > budget_tokens:
        turns.pop(0)
        dropped += 1
    return [*head, *(m for turn in turns for m in turn), *tail], dropped


def build_request(response: Response, plan) -> GenerationRequest:
    """The engine request; sets `response.truncated_turns` to the number of earlier turns left out."""
    comparison, model = response.comparison, response.model
    max_tokens = min(comparison.max_tokens or plan.max_tokens, model.max_tokens_limit)
    room = model.context_length - max_tokens - plan.reasoning_max_tokens
    messages, response.truncated_turns = conversation(response, room)
    temperature = comparison.temperature if comparison.temperature is not None else model.temperature
    return GenerationRequest(
        request_id=str(response.id),
        messages=tuple(messages),
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=model.top_p,
    )


class ResponseSink:
    """Stores and publishes one response's text from a writer thread, off the decoding thread.

    The decoding thread only hands each delta over (`add`: a queue put); the writer
    coalesces them into numbered chunks (DeltaBuffer: about every 50 ms or 16 tokens, and
    one chunk per kind of everything that piled up while a write was slow), appends each
    chunk to the row, then publishes it. So a slow database or channel layer makes chunks
    bigger, never decoding slower. Appending *before* publishing means a client that joins
    the group and then reads the row never misses a chunk: what was published before it
    joined is in the row, and what comes after reaches it live (seq > row's).

    The writer also reads the stop flag (every CANCEL_CHECK_SECONDS) and tells the engine,
    so the decoding thread never waits on the cache either.
    """

    def __init__(self, response: Response, publisher: Publisher):
        self.response = response
        self.publisher = publisher
        self.buffer = DeltaBuffer(seq=response.seq)
        self.live = LiveFigures()
        self.parts = {"answer": [response.text], "reasoning": [response.reasoning]}
        self.first_token_at = None
        self.wanted = True  # False once the row stops being ours (deleted, or failed by the sweeper)
        self.stopped = False  # the writer asked the engine to stop (a Stop, or the row is no longer ours)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._on_stop = None
        self._stored_any = False

    def start(self, on_stop) -> None:
        """Start the writer; `on_stop()` is called once when the answer must stop (engine.cancel)."""
        self._on_stop = on_stop
        self.live.started = time.monotonic()  # time to first token counts from here, never the load
        self._writer = threading.Thread(target=self._write_loop, name=f"writer-{self.response.id}", daemon=True)
        self._writer.start()

    def add(self, event: StreamEvent) -> None:
        """Take one engine delta (decoding thread): a timestamp and a queue put, nothing that waits."""
        self.live.token()
        if self.first_token_at is None:
            self.first_token_at = timezone.now()
        self._inbox.put((event.text, event.kind.value, time.monotonic(), time.time()))

    def finish(self, terminal: StreamEvent, describe: dict | None = None, load_ms: float | None = None) -> str | None:
        """Let the writer store everything, then write the terminal state and publish it; None if the row was no longer ours."""
        if self._writer is not None:
            self._inbox.put(_END)
            self._writer.join()
        else:
            self._write_chunks(self.buffer.flush())
        status = _TERMINAL_STATUS[terminal.type]
        metrics = _metrics_dict(terminal.metrics, self.live, describe)
        metrics["load_ms"] = load_ms
        error = terminal.error or ""
        if terminal.detail:  # a remote server's own words: the log, never the column
            log.warning("response %s failed: %s Server said: %s", self.response.id, error, terminal.detail)
        finished = Response.objects.filter(id=self.response.id, status=Status.RUNNING).update(
            status=status,
            metrics=metrics,
            error=error,
            finished_at=timezone.now(),
            text="".join(self.parts["answer"]),
            reasoning="".join(self.parts["reasoning"]),
            seq=self.buffer.seq,
            first_token_at=self.first_token_at,
        )
        if not finished:
            log.warning("response %s was deleted or failed elsewhere; its result is dropped", self.response.id)
            return None
        self.publisher.send(status_message(self.response.id, status, metrics, error or None))
        return status

    # -- the writer thread

    def _write_loop(self) -> None:
        next_check = 0.0
        try:
            ended = False
            while not ended:
                due = self.buffer.due()
                wait = CANCEL_CHECK_SECONDS if due is None else max(0.0, min(due - time.monotonic(), CANCEL_CHECK_SECONDS))
                items = []
                try:
                    items.append(self._inbox.get(timeout=wait))
                    while True:  # everything that piled up while the last write ran
                        items.append(self._inbox.get_nowait())
                except queue.Empty:
                    pass
                chunks = []
                for item in items:
                    if item is _END:
                        ended = True
                        break
                    text, kind, at, wall = item
                    chunks += self.buffer.add(text, kind, at=at, wall=wall)
                if ended or self.buffer.overdue():
                    chunks += filter(None, [self.buffer.flush()])
                self._write_chunks(*chunks)
                if not self.stopped and time.monotonic() >= next_check and not ended:
                    next_check = time.monotonic() + CANCEL_CHECK_SECONDS
                    if not self.wanted or cancellation.is_cancel_requested(self.response.id):
                        self._stop()
        except Exception:
            log.exception("response %s: storing its text failed; the rest is written when it ends", self.response.id)
            self._drain_after_failure()
        finally:
            connection.close()  # this thread's own database connection

    def _drain_after_failure(self) -> None:
        """Keep the text in memory so that `finish` stores it whole, and keep the engine told."""
        while True:
            item = self._inbox.get()
            if item is _END:
                break
            text, kind, at, wall = item
            for chunk in self.buffer.add(text, kind, at=at, wall=wall):
                self.parts[chunk.kind].append(chunk.text)
        chunk = self.buffer.flush()
        if chunk is not None:
            self.parts[chunk.kind].append(chunk.text)

    def _stop(self) -> None:
        self.stopped = True
        if self._on_stop is not None:
            self._on_stop()

    def _write_chunks(self, *chunks) -> None:
        for chunk in self.buffer.merge([c for c in chunks if c is not None]):
            self.parts[chunk.kind].append(chunk.text)
            if not self.wanted:
                continue
            if not self._store(chunk):
                self.wanted = False
                self._stop()
                continue
            self._publish(chunk)

    def _store(self, chunk) -> bool:
        """Append the chunk to the row; False when the row is no longer ours."""
        field = "text" if chunk.kind == "answer" else "reasoning"
        first = {} if self._stored_any else {"metrics": {}}  # the "loading" note ends with the first token
        self._stored_any = True
        return bool(Response.objects.filter(id=self.response.id, status=Status.RUNNING).update(
            **first,
            **{field: Concat(F(field), Value(chunk.text))},
            seq=chunk.seq,
            first_token_at=self.first_token_at,
            heartbeat_at=timezone.now(),
        ))

    def _publish(self, chunk) -> None:
        self.publisher.send(
            {
                "type": "response.delta",
                "response_id": str(self.response.id),
                "seq": chunk.seq,
                "text": chunk.text,
                "kind": chunk.kind,
                "live": self.live.as_dict(),
                # wall-clock seconds: when the chunk's first token left the engine, and when
                # the chunk was published; `make bench-pipeline` measures from them.
                "timing": {"first_token_at": chunk.first_token_at, "sent_at": time.time()},
            }
        )


_END = object()


def _metrics_dict(metrics: Metrics | None, live: LiveFigures, describe: dict | None) -> dict:
    result = Metrics().as_dict()
    result.update({k: v for k, v in live.as_dict().items() if v is not None})
    if metrics is not None:
        result.update({k: v for k, v in metrics.as_dict().items() if v is not None})
    if describe:
        result["engine"] = result.get("engine") or describe.get("backend")
    return result


def run_response(response_id) -> str | None:
    """Run one response to a terminal state. Returns that status, or None if not claimed."""
    if not claim(response_id):
        log.info("response %s was already claimed or cancelled; nothing to do", response_id)
        return None
    response = Response.objects.select_related("model", "comparison", "previous__comparison").get(id=response_id)
    with Heartbeat(response.id):
        return _run_claimed(response)


def _run_claimed(response: Response) -> str | None:
    publisher = Publisher(response.comparison_id)
    sink = ResponseSink(response, publisher)
    describe = None
    load_ms = None
    try:
        spec = response.model.to_spec()
        mode = Mode(response.mode)
        request = build_request(response, resolve(spec, mode))
        # Stored before the running status goes out, so the re-rendered column shows them:
        # a column whose model is not loaded yet says so until its first token.
        loading = not is_engine_loaded(spec, mode)
        Response.objects.filter(id=response.id).update(
            truncated_turns=response.truncated_turns, metrics={"loading": True} if loading else {}
        )
        publisher.send(status_message(response.id, Status.RUNNING))
        engine, load_ms = get_engine_timed(spec, mode)
        describe = engine.describe()
        sink.start(on_stop=lambda: engine.cancel(request.request_id))
        terminal = StreamEvent.failed("The engine ended its stream without a final event.")
        for event in engine.stream(request):
            if event.terminal:
                terminal = event
                break
            sink.add(event)
        else:
            if cancellation.is_cancel_requested(response.id):
                terminal = StreamEvent.cancelled()
    except EngineError as exc:
        terminal = StreamEvent.failed(str(exc))
    except MemoryError:
        terminal = StreamEvent.failed(
            "The worker ran out of memory for this model. Choose a smaller model or mode, or give the worker more memory."
        )
    except Exception as exc:
        log.exception("response %s failed", response.id)
        terminal = StreamEvent.failed(f"The model failed: {exc.__class__.__name__}: {exc}")
    try:
        status = sink.finish(terminal, describe, load_ms)
    finally:
        cancellation.forget(response.id)
        publisher.close()
    if status == Status.DONE and response.mode == Mode.FAST:
        from council.comparisons import quality

        quality.queue_check(response)  # behind every waiting answer, on this model's queue
    return status
