"""Stream chat completions from any OpenAI-compatible server (vllm serve, llama.cpp, Ollama).

The wire format is the OpenAI chat-completions stream: Server-Sent Events, one
`data: {json}` line per chunk, `data: [DONE]` at the end, and with
`stream_options.include_usage` a last chunk with empty `choices` and a `usage` object.
Reasoning text arrives in `delta.reasoning_content` (vLLM, llama.cpp) or
`delta.reasoning` (newer vLLM, Ollama).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from inference.engines.base import Cancellations, Option, Options, Timings
from inference.errors import EngineError
from inference.text import ThinkSplitter
from inference.types import (
    DeltaKind,
    EnginePlan,
    GenerationRequest,
    Metrics,
    Mode,
    ModelSpec,
    StreamEvent,
)

log = logging.getLogger(__name__)

DONE = object()  # what parse_sse_line returns for `data: [DONE]`

OPTIONS = Options(
    Option("connect_timeout", float, 5.0, "Seconds to wait for the server to accept a connection."),
    Option("read_timeout", float, 120.0, "Longest silence between two chunks, in seconds (a long prefill)."),
    Option("fast_options", dict, {}, "JSON object merged into every FAST request body, e.g. {\"top_k\": 20}."),
    Option("thinking_options", dict, {}, "JSON object merged into every THINKING request body."),
)


def chat_completions_url(base_url: str) -> str:
    """`http://h:8000`, `http://h:8000/` and `http://h:8000/v1` all mean the same server."""
    base = base_url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise EngineError(
            f"the openai backend needs an http(s) base URL as the model's source, got {base_url!r}"
        )
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


def remote_model_for(spec: ModelSpec, mode: Mode) -> str:
    """The server-side model name for a mode; one name may serve both (modes then differ by options)."""
    if mode is Mode.FAST:
        return spec.remote_model_fast or spec.remote_model_thinking or spec.slug
    return spec.remote_model_thinking or spec.remote_model_fast or spec.slug


def chat_request_body(spec: ModelSpec, plan: EnginePlan, request: GenerationRequest) -> dict:
    """The JSON body of one streaming chat-completions request.

    Reasoning is switched through `chat_template_kwargs.enable_thinking` (vLLM and
    llama.cpp's server pass it to the chat template) only for models that support it,
    since strict servers reject fields they do not know. `extra` may hold
    `fast_options` / `thinking_options`: JSON objects merged into the body last.
    """
    body: dict[str, Any] = {
        "model": remote_model_for(spec, plan.mode),
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        # A server counts reasoning and answer together: both budgets, in one.
        "max_tokens": max(1, min(request.max_tokens, plan.max_tokens)) + plan.reasoning_max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if spec.supports_reasoning:
        body["chat_template_kwargs"] = {"enable_thinking": plan.reasoning}
    body.update(OPTIONS.read(spec, f"{plan.mode.value}_options"))
    return body


def parse_sse_line(line: str) -> dict | object | None:
    """One SSE line → a chunk dict, DONE, or None (comments, blank lines, other fields).

    Raises ValueError on a `data:` line that is not JSON.
    """
    if not line.startswith("data:"):
        return None  # blank separator, `: keep-alive` comment, `event:` / `id:` fields
    payload = line[5:].strip()
    if payload == "[DONE]":
        return DONE
    if not payload:
        return None
    chunk = json.loads(payload)
    if not isinstance(chunk, dict):
        raise ValueError(f"chunk is not a JSON object: {payload[:200]}")
    return chunk


def error_message(payload: Any) -> str | None:
    """The server's message from an OpenAI-shaped error (`{"error": {"message": ...}}`) and kin."""
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or err)
    if isinstance(err, str):
        return err
    detail = payload.get("detail")  # FastAPI-style bodies (vllm serve validation errors)
    if detail:
        return detail if isinstance(detail, str) else json.dumps(detail)[:500]
    if payload.get("object") == "error" and payload.get("message"):  # older vLLM
        return str(payload["message"])
    return None


def spec_decode_counts(payload: Any) -> tuple[int | None, int | None]:
    """(drafted, accepted) from vLLM's per-request `metrics.speculative_decoding`, if present.

    vLLM reports it only with `--per-request-spec-decode-metrics summary|detailed`;
    the shape is marked experimental upstream, so anything unexpected reads as unknown.
    """
    if not isinstance(payload, dict):
        return None, None
    metrics = payload.get("metrics")
    spec = metrics.get("speculative_decoding") if isinstance(metrics, dict) else None
    if not isinstance(spec, dict):
        return None, None
    drafted = spec.get("num_draft_tokens")
    accepted = spec.get("num_accepted_draft_tokens", spec.get("num_accepted_tokens"))
    return (
        drafted if isinstance(drafted, int) else None,
        accepted if isinstance(accepted, int) else None,
    )


@dataclass
class _Progress:
    """What one stream has read so far: its timings, the server's usage and acceptance counts."""

    timings: Timings = field(default_factory=Timings)
    usage: dict = field(default_factory=dict)
    drafted: int | None = None
    accepted: int | None = None
    finished: bool = False
    # Servers that do not parse reasoning out leave `<think>` blocks in `content`.
    splitter: ThinkSplitter = field(default_factory=ThinkSplitter)

    def take(self, chunk: dict) -> Iterator[StreamEvent]:
        """The deltas of one chunk; notes its usage, acceptance counts and finish."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        drafted, accepted = spec_decode_counts(chunk)
        if drafted is not None:
            self.drafted, self.accepted = drafted, accepted
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            content = delta.get("content")
            pieces = [(DeltaKind.REASONING, reasoning)] if isinstance(reasoning, str) else []
            if isinstance(content, str):
                pieces += self.splitter.feed(content)
            if reasoning or content:
                self.timings.token()  # a chunk stands for a token until usage says otherwise
            for kind, text in pieces:
                if text:
                    yield StreamEvent.delta(text, kind)
            if choice.get("finish_reason"):
                self.finished = True  # some servers omit [DONE]; usage may still follow

    def rest(self) -> Iterator[StreamEvent]:
        """What the splitter still holds once the stream finished."""
        for kind, text in self.splitter.flush():
            yield StreamEvent.delta(text, kind)

    def metrics(self, base: Metrics) -> Metrics:
        completion = self.usage.get("completion_tokens")
        if not isinstance(completion, int):
            completion = self.timings.tokens or None
        prompt = self.usage.get("prompt_tokens")
        return self.timings.metrics(
            base,
            tokens=completion,
            prompt_tokens=prompt if isinstance(prompt, int) else None,
            draft_tokens=self.drafted,
            accepted_tokens=self.accepted,
        )


class OpenAIEngine:
    """Engine over an OpenAI-compatible HTTP server: `ModelSpec.source` is its base URL.

    One httpx client (and its connection pool) per engine, shared by the threads that
    stream through it. `cancel` marks the request and shuts its socket down, which wakes
    a read blocked on a silent server; the server sees the connection close and stops.
    """

    def __init__(
        self,
        spec: ModelSpec,
        plan: EnginePlan,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.url = chat_completions_url(spec.source)
        self.connect_timeout = connect_timeout if connect_timeout is not None else OPTIONS.read(spec, "connect_timeout")
        self.read_timeout = read_timeout if read_timeout is not None else OPTIONS.read(spec, "read_timeout")
        headers = {"Accept": "text/event-stream"}
        if spec.api_key:
            headers["Authorization"] = f"Bearer {spec.api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(
                connect=self.connect_timeout,
                read=self.read_timeout,
                write=self.read_timeout,
                pool=self.connect_timeout,
            ),
            transport=transport,
        )
        self._lock = threading.Lock()
        self._responses: dict[str, httpx.Response] = {}  # open streams, for cancel to wake
        self._cancels = Cancellations()
        self._base = Metrics(engine="openai", quantization=plan.quantization, speculation=plan.speculation)

    def describe(self) -> dict:
        return {
            "backend": "openai",
            "device": "remote",
            "url": self.url,
            "model": remote_model_for(self.spec, self.plan.mode),
            "dtype": self.plan.dtype,
            "quantization": self.plan.quantization,
            "speculation": self.plan.speculation,
        }

    def close(self) -> None:
        self._client.close()

    def cancel(self, request_id: str) -> None:
        self._cancels.cancel(request_id)
        with self._lock:
            response = self._responses.get(request_id)
        if response is not None:
            _shutdown_socket(response)

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        try:
            yield from self._stream(request)
        finally:
            with self._lock:
                self._responses.pop(request.request_id, None)
            self._cancels.discard(request.request_id)

    def _stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Build the body, read the stream, then the one terminal event."""
        if self._cancels.is_cancelled(request.request_id):
            yield StreamEvent.cancelled(self._base)
            return
        try:
            body = chat_request_body(self.spec, self.plan, request)
        except EngineError as exc:
            yield StreamEvent.failed(str(exc))
            return
        progress = _Progress()
        try:
            terminal = yield from self._read(request.request_id, body, progress)
        except Exception as exc:  # the protocol: never raise out of stream()
            terminal = self._transport_failure(exc, request.request_id, progress)
        if terminal is None:
            terminal = self._ending(request.request_id, progress)
            if terminal.type == "done":
                yield from progress.rest()
        yield terminal

    def _read(self, request_id: str, body: dict, progress: _Progress) -> Iterator[StreamEvent]:
        """Yield the deltas; return a terminal event when the stream ends early, else None."""
        with self._client.stream("POST", self.url, json=body) as response:
            with self._lock:
                self._responses[request_id] = response
            if self._cancels.is_cancelled(request_id):
                return StreamEvent.cancelled(progress.metrics(self._base))
            if response.status_code >= 400:
                message, detail = self._http_error(response)
                return StreamEvent.failed(message, detail=detail)
            for line in response.iter_lines():
                if self._cancels.is_cancelled(request_id):
                    return None
                try:
                    chunk = parse_sse_line(line)
                except ValueError:
                    return StreamEvent.failed(
                        f"{self.url} sent a malformed stream chunk.", progress.metrics(self._base), detail=shorten(line)
                    )
                if chunk is DONE:
                    progress.finished = True
                    return None
                if chunk is None:
                    continue
                message = error_message(chunk)
                if message is not None:
                    return StreamEvent.failed(
                        f"{self.url} reported an error mid-stream.{STAFF_SEE_DETAIL}",
                        progress.metrics(self._base),
                        detail=shorten(message),
                    )
                yield from progress.take(chunk)
        return None

    def _transport_failure(self, exc: Exception, request_id: str, progress: _Progress) -> StreamEvent:
        """The terminal event for an exception out of the HTTP stream (a cancel shuts the socket)."""
        if isinstance(exc, httpx.ConnectTimeout):
            return StreamEvent.failed(f"timed out after {self.connect_timeout:g}s connecting to {self.url}")
        if isinstance(exc, httpx.ConnectError):
            return StreamEvent.failed(f"cannot reach {self.url}: {exc}. Is the server running?")
        if isinstance(exc, (httpx.HTTPError, OSError)):
            if self._cancels.is_cancelled(request_id):
                return StreamEvent.cancelled(progress.metrics(self._base))
            if isinstance(exc, httpx.ReadTimeout):
                message = f"{self.url} sent nothing for {self.read_timeout:g}s (read timeout)"
            else:
                message = f"connection to {self.url} failed mid-stream: {exc or type(exc).__name__}"
            return StreamEvent.failed(message, progress.metrics(self._base))
        log.exception("openai stream %s failed", request_id)
        return StreamEvent.failed(f"unexpected error streaming from {self.url}: {exc}")

    def _ending(self, request_id: str, progress: _Progress) -> StreamEvent:
        """The terminal event once the stream was read to its end (or a cancel stopped the reading)."""
        if self._cancels.is_cancelled(request_id):
            return StreamEvent.cancelled(progress.metrics(self._base))
        if not progress.finished:
            return StreamEvent.failed(f"{self.url} closed the stream before it finished", progress.metrics(self._base))
        return StreamEvent.done(progress.metrics(self._base))

    def _http_error(self, response: httpx.Response) -> tuple[str, str | None]:
        """(message, detail): the status for everyone; what the server said, shortened, as the detail."""
        try:
            raw = response.read()[:4096]
        except httpx.HTTPError:
            raw = b""
        text = raw.decode("utf-8", "replace").strip()
        try:
            message = error_message(json.loads(text))
        except ValueError:
            message = None
        detail = shorten(message or text) or None
        status = f"{response.status_code} {response.reason_phrase}".strip()
        return f"{self.url} answered HTTP {status}.{STAFF_SEE_DETAIL if detail else ''}", detail


DETAIL_CHARS = 300
STAFF_SEE_DETAIL = " Its message is kept for staff (the worker's log, and the model's Test load in the admin)."


def shorten(text: str, limit: int = DETAIL_CHARS) -> str:
    """A remote server's text on one line, at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shutdown_socket(response: httpx.Response) -> None:
    """Wake a thread blocked reading `response`: closing alone does not interrupt recv()."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def load(spec: ModelSpec, plan: EnginePlan) -> OpenAIEngine:
    """The registry's entry point: nothing loads locally, the server already holds the model."""
    return OpenAIEngine(spec, plan)
