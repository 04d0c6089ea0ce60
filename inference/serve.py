"""`python -m inference serve`: an OpenAI-compatible HTTP server over one local engine.

CPU hosts serve a model to Council's workers the way GPU hosts do with `vllm serve`:
workers reach it through the `openai` backend. Endpoints: `GET /health`,
`GET /v1/models`, `POST /v1/chat/completions` (streaming over SSE or not). Errors are
JSON in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.

Standard library only (ThreadingHTTPServer): one thread per connection, and at most
`--parallel` generations at a time (default 1: the torch and llama.cpp engines run one
sequence at a time anyway; a waiting request simply queues).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from inference.engines.base import Engine
from inference.errors import EngineError
from inference.types import DeltaKind, GenerationRequest, Message, Mode, ModelSpec

log = logging.getLogger("inference.serve")

MAX_BODY_BYTES = 4 * 1024 * 1024
ROLES = ("system", "user", "assistant")


class APIError(Exception):
    """A request the server refuses, answered as OpenAI's error JSON."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def resolve_spec(model: str) -> ModelSpec:
    """A bundled slug, a local model directory or file (GGUF), or a hub id, as a ModelSpec."""
    from inference import bundled

    if model in bundled.BUNDLED:
        return bundled.BUNDLED[model].spec()
    path = Path(model).expanduser()
    if path.exists():
        return ModelSpec(slug=path.stem if path.is_file() else path.name, source=str(path.resolve()))
    if "/" in model and not model.startswith((".", "/", "~")):
        return ModelSpec(slug=model.rsplit("/", 1)[-1], source=model)  # a hub id
    raise EngineError(
        f"--model {model!r} is neither a bundled model ({', '.join(sorted(bundled.BUNDLED))}) "
        "nor an existing path"
    )


def _text_content(content: Any, index: int) -> str:
    """A message's content: a string, or OpenAI's list of parts of which text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise APIError(400, f"messages[{index}].content: only text parts are supported",
                               param=f"messages[{index}].content")
            parts.append(part["text"])
        return "".join(parts)
    if content is None:
        return ""
    raise APIError(400, f"messages[{index}].content must be a string or a list of text parts",
                   param=f"messages[{index}].content")


def _number(body: dict, name: str, kind: type, default: Any, lo: float, hi: float) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise APIError(400, f"{name} must be {'an integer' if kind is int else 'a number'}", param=name)
    if not lo <= value <= hi:
        raise APIError(400, f"{name} must be between {lo:g} and {hi:g}, got {value}", param=name)
    return kind(value)


def parse_chat_request(body: Any, spec: ModelSpec, request_id: str) -> tuple[GenerationRequest, bool, bool]:
    """A chat-completions body → (GenerationRequest, stream?, include_usage?). Raises APIError."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise APIError(400, "messages must be a non-empty list", param="messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise APIError(400, f"messages[{i}].role must be one of {', '.join(ROLES)}", param=f"messages[{i}].role")
        messages.append(Message(m["role"], _text_content(m.get("content"), i)))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", int, spec.default_max_tokens, 1, spec.max_tokens_limit)
    stop = body.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
        raise APIError(400, "stop must be a string or a list of strings", param="stop")
    if body.get("n", 1) != 1:
        raise APIError(400, "only n=1 is supported", param="n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(400, "stream must be a boolean", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise APIError(400, "stream_options must be an object", param="stream_options")
    request = GenerationRequest(
        request_id=request_id,
        messages=tuple(messages),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", float, spec.temperature, 0, 2),
        top_p=_number(body, "top_p", float, spec.top_p, 0, 1),
        stop=tuple(stop),
        seed=_number(body, "seed", int, None, -(2**63), 2**63 - 1),
    )
    return request, stream, bool(options.get("include_usage"))


def _usage(metrics) -> dict:
    prompt = (metrics.prompt_tokens or 0) if metrics else 0
    completion = (metrics.completion_tokens or 0) if metrics else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _council_metrics(metrics) -> dict | None:
    """vLLM's per-request `metrics.speculative_decoding` shape, where the engine speculated."""
    if metrics is None or metrics.draft_tokens is None:
        return None
    return {"speculative_decoding": {"num_draft_tokens": metrics.draft_tokens,
                                     "num_accepted_draft_tokens": metrics.accepted_tokens}}


def _finish_reason(metrics, limit: int) -> str:
    done = metrics.completion_tokens if metrics and metrics.completion_tokens is not None else 0
    return "length" if done >= limit else "stop"


class ServeState:
    """What every request handler shares: the engine, the served name, the parallel limit."""

    def __init__(self, engine: Engine, spec: ModelSpec, model_id: str, mode: Mode, parallel: int = 1) -> None:
        self.engine, self.spec, self.model_id, self.mode = engine, spec, model_id, mode
        self.slots = threading.BoundedSemaphore(max(1, parallel))
        self.created = int(time.time())
        from inference.plan import token_budget

        self.budget = token_budget(spec, mode)  # the engine caps every request's answer at this

    def limit(self, request: GenerationRequest) -> int:
        return min(request.max_tokens, self.budget)

    def model_card(self) -> dict:
        return {"id": self.model_id, "object": "model", "created": self.created, "owned_by": "council",
                "council": {"slug": self.spec.slug, "mode": self.mode.value, **self.engine.describe()}}


class Handler(BaseHTTPRequestHandler):
    server_version = "council-serve/0.1"
    protocol_version = "HTTP/1.1"
    state: ServeState  # set on the class made by make_server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.info("%s %s", self.address_string(), format % args)

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: APIError) -> None:
        self._json(exc.status, exc.body())

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._json(200, {"status": "ok"})
        elif path == "/v1/models":
            self._json(200, {"object": "list", "data": [self.state.model_card()]})
        elif path == f"/v1/models/{self.state.model_id}":
            self._json(200, self.state.model_card())
        elif path.startswith("/v1/models/"):
            self._error(APIError(404, f"The model `{path[len('/v1/models/'):]}` does not exist.",
                                 param="model", code="model_not_found"))
        else:
            self._error(APIError(404, f"no route GET {path}", code="not_found"))

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self._read_json()
            if path != "/v1/chat/completions":
                raise APIError(404, f"no route POST {path}", code="not_found")
            self._chat(body)
        except APIError as exc:
            self._error(exc)

    def _read_json(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise APIError(411, "a Content-Length header is required")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            raise APIError(413, f"the request body is over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw or b"null")
        except ValueError as exc:
            raise APIError(400, f"the request body is not valid JSON: {exc}") from exc

    def _chat(self, body: Any) -> None:
        state = self.state
        model = body.get("model") if isinstance(body, dict) else None
        if model not in (None, state.model_id, state.spec.slug):
            raise APIError(404, f"The model `{model}` does not exist; this server serves `{state.model_id}`.",
                           param="model", code="model_not_found")
        rid = f"chatcmpl-{uuid.uuid4().hex}"
        request, stream, include_usage = parse_chat_request(body, state.spec, rid)
        with state.slots:
            if stream:
                self._stream(request, include_usage)
            else:
                self._complete(request)

    def _chunk(self, rid: str, delta: dict, finish: str | None = None) -> dict:
        return {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self.state.model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def _send_event(self, payload: dict | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()

    def _stream(self, request: GenerationRequest, include_usage: bool) -> None:
        rid, engine = request.request_id, self.state.engine
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        self.close_connection = True
        events = engine.stream(request)
        try:
            self._send_event(self._chunk(rid, {"role": "assistant", "content": ""}))
            for event in events:
                if event.type == "delta":
                    key = "reasoning_content" if event.kind is DeltaKind.REASONING else "content"
                    self._send_event(self._chunk(rid, {key: event.text}))
                    continue
                if event.type == "error":
                    self._send_event({"error": {"message": event.error or "generation failed",
                                                "type": "server_error", "param": None, "code": 500}})
                else:  # done, or cancelled by the engine (a shutdown): both end the answer
                    finish = _finish_reason(event.metrics, self.state.limit(request)) if event.type == "done" else "abort"
                    self._send_event(self._chunk(rid, {}, finish))
                    if include_usage:
                        last = {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()),
                                "model": self.state.model_id, "choices": [], "usage": _usage(event.metrics)}
                        extra = _council_metrics(event.metrics)
                        if extra:
                            last["metrics"] = extra
                        self._send_event(last)
                self._send_event("[DONE]")
                break
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The client went away: stop generating for it at the next decode step.
            log.info("client closed %s; cancelling", rid)
            engine.cancel(rid)
        finally:
            events.close()

    def _complete(self, request: GenerationRequest) -> None:
        answer: list[str] = []
        reasoning: list[str] = []
        terminal = None
        for event in self.state.engine.stream(request):
            if event.type == "delta":
                (reasoning if event.kind is DeltaKind.REASONING else answer).append(event.text)
            else:
                terminal = event
                break
        if terminal is None or terminal.type == "error":
            message = terminal.error if terminal is not None else "the engine ended without a result"
            raise APIError(500, message or "generation failed", type="server_error")
        message: dict[str, Any] = {"role": "assistant", "content": "".join(answer)}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        payload = {
            "id": request.request_id, "object": "chat.completion", "created": int(time.time()),
            "model": self.state.model_id,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": _finish_reason(terminal.metrics, self.state.limit(request))
                         if terminal.type == "done" else "abort"}],
            "usage": _usage(terminal.metrics),
        }
        extra = _council_metrics(terminal.metrics)
        if extra:
            payload["metrics"] = extra
        self._json(200, payload)


def make_server(state: ServeState, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server bound to (host, port); port 0 picks a free one (read `server.server_port`)."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True  # a stuck client must not hold the process at exit
    return server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inference serve",
        description="Serve one model over an OpenAI-compatible HTTP API (for the openai backend).",
    )
    parser.add_argument("--model", required=True, help="a bundled slug, a model directory, a GGUF file or a hub id")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.THINKING.value,
                        help="thinking: full precision through torch (default); fast: the FAST plan "
                             "(llama.cpp on the GGUF file on a CPU host)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed at start)")
    parser.add_argument("--served-model-name", default=None,
                        help="the model id clients send (default: the model's slug)")
    parser.add_argument("--parallel", type=int, default=1, help="generations at once (default 1)")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    mode = Mode(args.mode)
    try:
        from inference.registry import get_engine

        spec = resolve_spec(args.model)
        engine = get_engine(spec, mode)
    except EngineError as exc:
        print(f"inference serve: {exc}", file=sys.stderr)
        return 2
    state = ServeState(engine, spec, args.served_model_name or spec.slug, mode, args.parallel)
    try:
        server = make_server(state, args.host, args.port)
    except OSError as exc:
        print(f"inference serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    # One line on stdout that scripts (and the tests) read to learn the port.
    print(f"serving {state.model_id} ({mode.value}, {engine.describe().get('backend')}) "
          f"on http://{host}:{port}/v1", flush=True)

    def stop(signum, frame):  # shutdown() waits for serve_forever, so not on its thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
