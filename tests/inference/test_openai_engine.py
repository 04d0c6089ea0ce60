"""The openai engine: against a live `inference serve` and against tiny loopback servers.

The live server runs the bundled SmolLM2 through llama.cpp (FAST), which loads in
under a second. Failures a real server will not produce on demand (silence, a broken
chunk, an error chunk mid-stream) come from small socket servers defined here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from serving import ServeProcess

from inference.engines.base import EngineError
from inference.engines.openai import (
    DONE,
    OpenAIEngine,
    chat_completions_url,
    chat_request_body,
    parse_sse_line,
    remote_model_for,
)
from inference.plan import resolve
from inference.types import DeltaKind, GenerationRequest, Message, Mode, ModelSpec

pytestmark = pytest.mark.timeout(120)

PROMPT = (Message("user", "Name three colours."),)


def remote_spec(base_url: str, **overrides) -> ModelSpec:
    fields = dict(slug="remote-smollm2", source=base_url, backend="openai")
    fields.update(overrides)
    return ModelSpec(**fields)


def engine_for(base_url: str, mode: Mode = Mode.FAST, model: str | None = None, **kwargs) -> OpenAIEngine:
    spec = remote_spec(base_url, remote_model_fast=model, remote_model_thinking=model)
    return OpenAIEngine(spec, resolve(spec, mode), **kwargs)


def request(rid: str = "r1", max_tokens: int = 24, **kw) -> GenerationRequest:
    return GenerationRequest(request_id=rid, messages=PROMPT, max_tokens=max_tokens, **kw)


def collect(events):
    events = list(events)
    assert all(not e.terminal for e in events[:-1]), "only the last event may be terminal"
    assert events and events[-1].terminal, "a stream ends with exactly one terminal event"
    return events[:-1], events[-1]


@pytest.fixture(scope="module")
def served():
    """`python -m inference serve` on the bundled SmolLM2, FAST (llama.cpp), on a free port."""
    with ServeProcess("smollm2-135m-instruct", "fast", start_timeout=90) as server:
        yield server


@contextmanager
def loopback(handle):
    """A one-thread-per-connection TCP server on 127.0.0.1; `handle(conn)` answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()
    conns = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in conns:
            conn.close()
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return body


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def sse(payload) -> bytes:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()


def chunk(content: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


def scripted(parts: list[bytes], then_hang: bool = False):
    def handle(conn):
        try:
            read_request(conn)
            for part in parts:
                conn.sendall(part)
            if then_hang:
                time.sleep(30)
        except OSError:
            pass
        finally:
            if not then_hang:
                conn.close()

    return handle


def test_it_accepts_a_base_url_with_or_without_v1():
    assert chat_completions_url("http://h:8000") == "http://h:8000/v1/chat/completions"
    assert chat_completions_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"


def test_it_rejects_a_source_that_is_not_a_url():
    with pytest.raises(EngineError, match="base URL"):
        chat_completions_url("smollm2-135m-instruct")


def test_it_maps_each_mode_to_its_remote_model_name():
    spec = remote_spec("http://h", remote_model_fast="qwen-awq", remote_model_thinking="qwen-bf16")
    assert remote_model_for(spec, Mode.FAST) == "qwen-awq"
    assert remote_model_for(spec, Mode.THINKING) == "qwen-bf16"
    one = remote_spec("http://h", remote_model_thinking="qwen")
    assert remote_model_for(one, Mode.FAST) == remote_model_for(one, Mode.THINKING) == "qwen"


def test_it_builds_a_streaming_body_with_usage_and_the_modes_budget():
    spec = remote_spec("http://h", supports_reasoning=True, default_max_tokens=64, reasoning_max_tokens=100,
                       extra=(("thinking_options", '{"top_k": 20}'),))
    fast = chat_request_body(spec, resolve(spec, Mode.FAST), request(max_tokens=1000, stop=("\n\n",), seed=7))
    assert fast["stream"] is True and fast["stream_options"] == {"include_usage": True}
    assert fast["max_tokens"] == 64
    assert fast["stop"] == ["\n\n"] and fast["seed"] == 7
    assert fast["chat_template_kwargs"] == {"enable_thinking": False}
    assert "top_k" not in fast
    thinking = chat_request_body(spec, resolve(spec, Mode.THINKING), request(max_tokens=1000))
    assert thinking["chat_template_kwargs"] == {"enable_thinking": True}
    assert thinking["top_k"] == 20
    assert thinking["max_tokens"] == 64 + 100  # the same answer budget, plus reasoning


def test_it_sends_no_template_switch_to_models_without_reasoning():
    spec = remote_spec("http://h")
    assert "chat_template_kwargs" not in chat_request_body(spec, resolve(spec, Mode.THINKING), request())


def test_it_parses_sse_lines():
    assert parse_sse_line('data: {"a": 1}') == {"a": 1}
    assert parse_sse_line("data: [DONE]") is DONE
    assert parse_sse_line(": keep-alive") is None
    assert parse_sse_line("") is None
    with pytest.raises(ValueError):
        parse_sse_line("data: {broken")


def test_it_streams_deltas_then_done_with_usage(served):
    engine = engine_for(served.base_url, model=served.model_id)
    deltas, end = collect(engine.stream(request(max_tokens=16)))
    assert end.type == "done", end.error
    assert deltas and "".join(d.text for d in deltas).strip()
    m = end.metrics
    assert m.engine == "openai"
    assert m.prompt_tokens and m.prompt_tokens > 5
    assert 1 <= m.completion_tokens <= 16
    assert m.ttft_ms is not None and m.ttft_ms > 0
    assert m.total_ms >= m.ttft_ms


def test_it_keeps_the_servers_message_on_an_http_error_as_the_detail_not_the_error(served):
    spec = remote_spec(served.base_url, remote_model_fast="no-such-model")
    engine = OpenAIEngine(spec, resolve(spec, Mode.FAST))
    deltas, end = collect(engine.stream(request()))
    assert deltas == []
    assert end.type == "error"
    assert "404" in end.error and "does not exist" not in end.error
    assert "no-such-model" in end.detail and "does not exist" in end.detail


def test_it_cancels_a_running_stream(served):
    engine = engine_for(served.base_url, model=served.model_id)
    events = engine.stream(request("cancel-me", max_tokens=200))
    first = next(events)
    assert first.type == "delta"
    engine.cancel("cancel-me")
    rest = list(events)
    assert rest[-1].type == "cancelled"
    assert len(rest) <= 2, "at most one more delta after the cancel"


def test_it_ends_cancelled_when_cancelled_before_it_starts(served):
    engine = engine_for(served.base_url, model=served.model_id)
    engine.cancel("early")
    deltas, end = collect(engine.stream(request("early")))
    assert deltas == [] and end.type == "cancelled"


def test_it_gives_up_on_a_silent_server_after_the_read_timeout():
    def silent(conn):
        read_request(conn)
        time.sleep(30)  # accept, read, never answer

    with loopback(silent) as url:
        engine = engine_for(url, read_timeout=0.5)
        started = time.monotonic()
        deltas, end = collect(engine.stream(request()))
    assert end.type == "error" and "read timeout" in end.error
    assert time.monotonic() - started < 10


def test_it_reports_a_malformed_chunk():
    parts = [SSE_HEAD, sse(chunk("Hello")), b"data: {not json\n\n", sse("[DONE]")]
    with loopback(scripted(parts)) as url:
        deltas, end = collect(engine_for(url).stream(request()))
    assert [d.text for d in deltas] == ["Hello"]
    assert end.type == "error" and "malformed" in end.error and "not json" not in end.error
    assert "{not json" in end.detail


def test_it_turns_an_error_chunk_into_an_error_event_with_the_servers_message_as_detail():
    error = {"error": {"message": "CUDA out of memory", "type": "InternalServerError", "code": 500}}
    parts = [SSE_HEAD, sse(chunk("Hi")), sse(error), sse("[DONE]")]
    with loopback(scripted(parts)) as url:
        deltas, end = collect(engine_for(url).stream(request()))
    assert end.type == "error" and "mid-stream" in end.error and "CUDA" not in end.error
    assert end.detail == "CUDA out of memory"


def test_it_reports_an_http_500_body():
    body = json.dumps({"error": {"message": "model is loading", "type": "server_error"}}).encode()
    head = f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with loopback(scripted([head.encode() + body])) as url:
        deltas, end = collect(engine_for(url).stream(request()))
    assert end.type == "error" and "503 Service Unavailable" in end.error and "model is loading" not in end.error
    assert end.detail == "model is loading"


def test_a_long_error_body_is_shortened_to_one_line():
    body = ("<html>\n" + "secret " * 200 + "</html>").encode()
    head = f"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with loopback(scripted([head.encode() + body])) as url:
        deltas, end = collect(engine_for(url).stream(request()))
    assert "secret" not in end.error
    assert len(end.detail) <= 300 and "\n" not in end.detail and end.detail.startswith("<html> secret")


def test_it_splits_reasoning_fields_and_think_tags_and_reads_usage():
    parts = [
        SSE_HEAD,
        sse({"choices": [{"index": 0, "delta": {"reasoning_content": "Let me see."}}]}),
        sse({"choices": [{"index": 0, "delta": {"reasoning": " Red."}}]}),
        sse(chunk("<think>hmm</th")),
        sse(chunk("ink>Red, green")),
        sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        sse({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
             "metrics": {"speculative_decoding": {"num_draft_tokens": 12, "num_accepted_draft_tokens": 5}}}),
        sse("[DONE]"),
    ]
    with loopback(scripted(parts)) as url:
        deltas, end = collect(engine_for(url).stream(request()))
    reasoning = "".join(d.text for d in deltas if d.kind is DeltaKind.REASONING)
    answer = "".join(d.text for d in deltas if d.kind is DeltaKind.ANSWER)
    assert reasoning == "Let me see. Red.hmm"
    assert answer == "Red, green"
    assert end.type == "done"
    assert (end.metrics.prompt_tokens, end.metrics.completion_tokens) == (11, 7)
    assert (end.metrics.draft_tokens, end.metrics.accepted_tokens) == (12, 5)


def test_it_reports_a_stream_that_ends_too_early():
    with loopback(scripted([SSE_HEAD, sse(chunk("Hel"))])) as url:
        deltas, end = collect(engine_for(url).stream(request()))
    assert end.type == "error" and "before it finished" in end.error


def test_a_cancel_wakes_a_stream_blocked_on_a_silent_server():
    with loopback(scripted([SSE_HEAD, sse(chunk("Hi"))], then_hang=True)) as url:
        engine = engine_for(url, read_timeout=60)
        events = engine.stream(request("stuck"))
        assert next(events).text == "Hi"
        threading.Timer(0.3, engine.cancel, args=("stuck",)).start()
        started = time.monotonic()
        rest = list(events)
    assert rest[-1].type == "cancelled"
    assert time.monotonic() - started < 10


def test_it_reports_a_server_that_is_not_there():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        deltas, end = collect(engine_for(f"http://127.0.0.1:{port}").stream(request()))
    assert end.type == "error" and "cannot reach" in end.error


def test_it_sends_the_api_key_as_a_bearer_token():
    seen = {}

    def handle(conn):
        conn.settimeout(5)
        seen["head"] = conn.recv(65536)
        conn.sendall(SSE_HEAD + sse(chunk("ok")) + sse("[DONE]"))
        conn.close()

    with loopback(handle) as url:
        spec = remote_spec(url, api_key="sk-test-123")
        deltas, end = collect(OpenAIEngine(spec, resolve(spec, Mode.FAST)).stream(request()))
    assert end.type == "done"
    assert b"authorization: bearer sk-test-123" in seen["head"].lower()
    assert "sk-test-123" not in repr(spec)
