"""The worker side of one Response: claim it, stream it, publish and store it."""

from __future__ import annotations

import logging
import time

from django.utils import timezone

from council.comparisons import cancellation
from council.comparisons.events import Publisher, status_message
from council.comparisons.models import Response, Status
from council.comparisons.streaming import DeltaBuffer, LiveFigures
from inference import plan as plans
from inference import registry
from inference.engines.base import EngineError
from inference.types import GenerationRequest, Message, Metrics, Mode, StreamEvent

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0
_TERMINAL_STATUS = {"done": Status.DONE, "error": Status.FAILED, "cancelled": Status.CANCELLED}


def claim(response_id) -> bool:
    """Move the row from queued to running; False if another delivery (or a cancel) got there first."""
    return Response.objects.filter(id=response_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now()
    ) == 1


def build_request(response: Response, plan) -> GenerationRequest:
    comparison = response.comparison
    spec_defaults = response.model
    messages = []
    if comparison.system_prompt:
        messages.append(Message("system", comparison.system_prompt))
    messages.append(Message("user", comparison.prompt))
    max_tokens = comparison.max_tokens or plan.max_tokens
    temperature = comparison.temperature if comparison.temperature is not None else spec_defaults.temperature
    return GenerationRequest(
        request_id=str(response.id),
        messages=tuple(messages),
        max_tokens=min(max_tokens, spec_defaults.max_tokens_limit),
        temperature=temperature,
        top_p=spec_defaults.top_p,
    )


class ResponseSink:
    """Accumulates one response's text, publishes coalesced deltas, checkpoints to the database."""

    def __init__(self, response: Response, publisher: Publisher):
        self.response = response
        self.publisher = publisher
        self.buffer = DeltaBuffer(seq=response.seq)
        self.live = LiveFigures()
        self.parts = {"answer": [response.text], "reasoning": [response.reasoning]}
        self.last_checkpoint = time.monotonic()
        self.first_token_at = None

    def add(self, event: StreamEvent) -> None:
        self.live.token()
        if self.first_token_at is None:
            self.first_token_at = timezone.now()
        for chunk in self.buffer.add(event.text, event.kind.value):
            self._emit(chunk)

    def _emit(self, chunk) -> None:
        self.parts[chunk.kind].append(chunk.text)
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
        if time.monotonic() - self.last_checkpoint >= CHECKPOINT_SECONDS:
            self.checkpoint()

    def _fields(self) -> dict:
        return {
            "text": "".join(self.parts["answer"]),
            "reasoning": "".join(self.parts["reasoning"]),
            "seq": self.buffer.seq,
            "first_token_at": self.first_token_at,
        }

    def checkpoint(self) -> None:
        Response.objects.filter(id=self.response.id, status=Status.RUNNING).update(**self._fields())
        self.last_checkpoint = time.monotonic()

    def finish(self, terminal: StreamEvent, describe: dict | None = None) -> str:
        chunk = self.buffer.flush()
        if chunk is not None:
            self._emit(chunk)
        status = _TERMINAL_STATUS[terminal.type]
        metrics = _metrics_dict(terminal.metrics, self.live, describe)
        error = terminal.error or ""
        Response.objects.filter(id=self.response.id, status=Status.RUNNING).update(
            status=status, metrics=metrics, error=error, finished_at=timezone.now(), **self._fields()
        )
        self.publisher.send(status_message(self.response.id, status, metrics, error or None))
        return status


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
    response = Response.objects.select_related("model", "comparison").get(id=response_id)
    publisher = Publisher(response.comparison_id)
    sink = ResponseSink(response, publisher)
    describe = None
    try:
        publisher.send(status_message(response.id, Status.RUNNING))
        spec = response.model.to_spec()
        mode = Mode(response.mode)
        engine = registry.get_engine(spec, mode)
        describe = engine.describe()
        request = build_request(response, plans.resolve(spec, mode))
        terminal = StreamEvent.failed("The engine ended its stream without a final event.")
        cancel_sent = False
        for event in engine.stream(request):
            if event.terminal:
                terminal = event
                break
            sink.add(event)
            if not cancel_sent and cancellation.is_cancel_requested(response.id):
                engine.cancel(request.request_id)
                cancel_sent = True
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
        log.exception("response %s failed", response_id)
        terminal = StreamEvent.failed(f"The model failed: {exc.__class__.__name__}: {exc}")
    try:
        return sink.finish(terminal, describe)
    finally:
        cancellation.forget(response.id)
        publisher.close()
