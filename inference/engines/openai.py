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
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator

import httpx

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

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 120.0  # longest silence between two chunks (a long prefill)
DONE = object()  # what parse_sse_line returns for `data: [DONE]`


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


def _extra(spec: ModelSpec) -> dict[str, str]:
    return dict(spec.extra)


def _json_option(spec: ModelSpec, key: str) -> dict:
    raw = _extra(spec).get(key)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise EngineError(f"model {spec.slug}: extra option {key} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EngineError(f"model {spec.slug}: extra option {key} must be a JSON object")
    return value


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
        "max_tokens": max(1, min(request.max_tokens, plan.max_tokens)),
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
    body.update(_json_option(spec, f"{plan.mode.value}_options"))
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
class _Active:
    cancelled: threading.Event
    response: httpx.Response | None = None


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
        extra = _extra(spec)
        self.connect_timeout = float(
            connect_timeout
            if connect_timeout is not None
            else extra.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
        )
        self.read_timeout = float(
            read_timeout if read_timeout is not None else extra.get("read_timeout", DEFAULT_READ_TIMEOUT_S)
        )
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
        self._active: dict[str, _Active] = {}
        # Cancels that arrive before their stream starts; bounded so it cannot grow forever.
        self._early_cancels: OrderedDict[str, None] = OrderedDict()

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
        with self._lock:
            active = self._active.get(request_id)
            if active is None:
                self._early_cancels[request_id] = None
                while len(self._early_cancels) > 1024:
                    self._early_cancels.popitem(last=False)
                return
            active.cancelled.set()
            response = active.response
        if response is not None:
            _shutdown_socket(response)

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        active = _Active(threading.Event())
        with self._lock:
            if self._early_cancels.pop(request.request_id, "absent") is None:
                active.cancelled.set()
            self._active[request.request_id] = active
        try:
            yield from self._stream(request, active)
        finally:
            with self._lock:
                self._active.pop(request.request_id, None)

    def _metrics(self, **figures: Any) -> Metrics:
        return Metrics(
            engine="openai",
            quantization=self.plan.quantization,
            speculation=self.plan.speculation,
            **figures,
        )

    def _stream(self, request: GenerationRequest, active: _Active) -> Iterator[StreamEvent]:
        if active.cancelled.is_set():
            yield StreamEvent.cancelled(self._metrics())
            return
        try:
            body = chat_request_body(self.spec, self.plan, request)
        except EngineError as exc:
            yield StreamEvent.failed(str(exc))
            return

        t0 = time.perf_counter()
        t_first: float | None = None
        t_last: float | None = None
        n_chunks = 0
        usage: dict = {}
        drafted = accepted = None
        finished = False
        # Servers that do not parse reasoning out leave `<think>` blocks in `content`.
        splitter = ThinkSplitter()

        def figures() -> dict:
            end = time.perf_counter()
            completion = usage.get("completion_tokens")
            if not isinstance(completion, int):
                completion = n_chunks if n_chunks else None
            decode = None
            if completion and completion > 1 and t_first is not None and t_last and t_last > t_first:
                decode = (completion - 1) / (t_last - t_first)
            prompt = usage.get("prompt_tokens")
            return dict(
                prompt_tokens=prompt if isinstance(prompt, int) else None,
                completion_tokens=completion,
                ttft_ms=(t_first - t0) * 1000 if t_first is not None else None,
                decode_tokens_per_s=decode,
                total_ms=(end - t0) * 1000,
                draft_tokens=drafted,
                accepted_tokens=accepted,
            )

        try:
            with self._client.stream("POST", self.url, json=body) as response:
                active.response = response
                if active.cancelled.is_set():
                    yield StreamEvent.cancelled(self._metrics(**figures()))
                    return
                if response.status_code >= 400:
                    yield StreamEvent.failed(self._http_error(response))
                    return
                for line in response.iter_lines():
                    if active.cancelled.is_set():
                        break
                    try:
                        chunk = parse_sse_line(line)
                    except ValueError:
                        yield StreamEvent.failed(
                            f"{self.url} sent a malformed stream chunk: {line[:200]!r}",
                            self._metrics(**figures()),
                        )
                        return
                    if chunk is None:
                        continue
                    if chunk is DONE:
                        finished = True
                        break
                    message = error_message(chunk)
                    if message is not None:
                        yield StreamEvent.failed(
                            f"{self.url} reported an error: {message}", self._metrics(**figures())
                        )
                        return
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
                    d, a = spec_decode_counts(chunk)
                    if d is not None:
                        drafted, accepted = d, a
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                        content = delta.get("content")
                        pieces = [(DeltaKind.REASONING, reasoning)] if isinstance(reasoning, str) else []
                        if isinstance(content, str):
                            pieces += splitter.feed(content)
                        if reasoning or content:
                            now = time.perf_counter()
                            t_first = now if t_first is None else t_first
                            t_last = now
                            n_chunks += 1
                        for kind, text in pieces:
                            if text:
                                yield StreamEvent.delta(text, kind)
                        if choice.get("finish_reason"):
                            finished = True  # some servers omit [DONE]; usage may still follow
        except httpx.ConnectTimeout:
            yield StreamEvent.failed(
                f"timed out after {self.connect_timeout:g}s connecting to {self.url}"
            )
            return
        except httpx.ConnectError as exc:
            yield StreamEvent.failed(f"cannot reach {self.url}: {exc}. Is the server running?")
            return
        except httpx.ReadTimeout:
            if active.cancelled.is_set():
                yield StreamEvent.cancelled(self._metrics(**figures()))
            else:
                yield StreamEvent.failed(
                    f"{self.url} sent nothing for {self.read_timeout:g}s (read timeout)",
                    self._metrics(**figures()),
                )
            return
        except (httpx.HTTPError, OSError) as exc:
            if active.cancelled.is_set():
                yield StreamEvent.cancelled(self._metrics(**figures()))
            else:
                yield StreamEvent.failed(
                    f"connection to {self.url} failed mid-stream: {exc or type(exc).__name__}",
                    self._metrics(**figures()),
                )
            return
        except Exception as exc:  # the protocol: never raise out of stream()
            log.exception("openai stream %s failed", request.request_id)
            yield StreamEvent.failed(f"unexpected error streaming from {self.url}: {exc}")
            return

        if active.cancelled.is_set():
            yield StreamEvent.cancelled(self._metrics(**figures()))
        elif finished:
            for kind, text in splitter.flush():
                yield StreamEvent.delta(text, kind)
            yield StreamEvent.done(self._metrics(**figures()))
        else:
            yield StreamEvent.failed(
                f"{self.url} closed the stream before it finished", self._metrics(**figures())
            )

    def _http_error(self, response: httpx.Response) -> str:
        try:
            raw = response.read()[:4096]
        except httpx.HTTPError:
            raw = b""
        text = raw.decode("utf-8", "replace").strip()
        try:
            message = error_message(json.loads(text))
        except ValueError:
            message = None
        reason = message or text[:500] or response.reason_phrase
        return f"{self.url} answered HTTP {response.status_code}: {reason}"


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
