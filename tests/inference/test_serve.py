"""`python -m inference serve`: the OpenAI-compatible server, started as a real process.

Most tests serve the bundled SmolLM2 in FAST mode (llama.cpp, loads in under a second);
one slow test serves it in THINKING mode through torch (de-quantizing the GGUF the
first time takes tens of seconds).
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from serving import ServeProcess

from inference.serve import APIError, parse_chat_request, resolve_spec
from inference.engines.base import EngineError
from inference.types import ModelSpec

pytestmark = pytest.mark.timeout(120)

HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def server():
    with ServeProcess("smollm2-135m-instruct", "fast", start_timeout=90) as served:
        yield served


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(30, connect=5)) as c:
        yield c


def sse_events(response: httpx.Response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[len("data: "):]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def assert_openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def test_it_lists_the_served_model(client, server):
    body = client.get("/models").json()
    assert body["object"] == "list"
    [card] = body["data"]
    assert card["id"] == server.model_id == "smollm2-135m-instruct"
    assert card["council"]["mode"] == "fast" and card["council"]["backend"] == "llamacpp"


def test_it_answers_health_checks(server):
    assert httpx.get(server.base_url.removesuffix("/v1") + "/health", timeout=5).json() == {"status": "ok"}


def test_it_completes_without_streaming(client, server):
    response = client.post("/chat/completions", json={"model": server.model_id, "messages": HI, "max_tokens": 8})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert 1 <= usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_it_streams_chunks_then_usage_then_done(client, server):
    payload = {"model": server.model_id, "messages": HI, "max_tokens": 8, "stream": True,
               "stream_options": {"include_usage": True}}
    with client.stream("POST", "/chat/completions", json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.strip()
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and 1 <= chunks[-1]["usage"]["completion_tokens"] <= 8


def test_it_sends_no_usage_chunk_unless_asked(client, server):
    payload = {"model": server.model_id, "messages": HI, "max_tokens": 4, "stream": True}
    with client.stream("POST", "/chat/completions", json=payload) as response:
        events = sse_events(response)
    assert all("usage" not in e for e in events[:-1])


def test_the_official_openai_client_streams_from_it(server):
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url=server.base_url, api_key="unused", timeout=30, max_retries=0)
    stream = api.chat.completions.create(model=server.model_id, messages=HI, max_tokens=6, stream=True,
                                         stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage.completion_tokens >= 1


@pytest.mark.parametrize(
    ("payload", "status", "param"),
    [
        ({"model": "gpt-9", "messages": HI}, 404, "model"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages[0].role"),
        ({"messages": HI, "max_tokens": 0}, 400, "max_tokens"),
        ({"messages": HI, "temperature": "hot"}, 400, "temperature"),
        ({"messages": HI, "stop": [1]}, 400, "stop"),
        ({"messages": HI, "n": 2}, 400, "n"),
    ],
)
def test_it_refuses_bad_requests_with_openai_shaped_errors(client, payload, status, param):
    error = assert_openai_error(client.post("/chat/completions", json=payload), status)
    assert error["param"] == param


def test_it_refuses_a_body_that_is_not_json(client):
    error = assert_openai_error(client.post("/chat/completions", content=b"{nope",
                                            headers={"content-type": "application/json"}), 400)
    assert "not valid JSON" in error["message"]


def test_it_answers_unknown_routes_with_a_404_error(client):
    assert_openai_error(client.get("/embeddings"), 404)
    assert_openai_error(client.post("/completions", json={}), 404)


def test_a_client_that_disconnects_mid_stream_frees_the_server(client, server):
    payload = {"model": server.model_id, "messages": HI, "max_tokens": 400, "stream": True}
    with client.stream("POST", "/chat/completions", json=payload) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
    # The server serves one generation at a time: this one only starts once the
    # abandoned stream was cancelled, long before 400 tokens would have been generated.
    response = client.post("/chat/completions", json={"messages": HI, "max_tokens": 4})
    assert response.status_code == 200


def test_it_reads_text_parts_and_the_completion_token_limit():
    spec = ModelSpec(slug="m", source="m", max_tokens_limit=100)
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
            "max_completion_tokens": 50, "stop": "END", "seed": 3}
    request, stream, usage = parse_chat_request(body, spec, "id-1")
    assert request.messages[0].content == "ab"
    assert (request.max_tokens, request.stop, request.seed, stream, usage) == (50, ("END",), 3, False, False)
    with pytest.raises(APIError, match="between"):
        parse_chat_request({**body, "max_completion_tokens": 101}, spec, "id-2")
    with pytest.raises(APIError, match="only text parts"):
        parse_chat_request({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, spec, "id-3")


def test_it_names_the_bundled_models_when_the_model_is_unknown():
    with pytest.raises(EngineError, match="smollm2-135m-instruct"):
        resolve_spec("./no/such/model")


def test_it_exits_with_a_message_when_the_model_is_unknown():
    done = subprocess.run([sys.executable, "-m", "inference", "serve", "--model", "./nowhere", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "neither a bundled model" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_it_serves_thinking_mode_through_the_torch_engine():
    with ServeProcess("smollm2-135m-instruct", "thinking", start_timeout=800) as served:
        card = httpx.get(served.base_url + "/models", timeout=10).json()["data"][0]
        assert card["council"]["backend"] == "torch" and card["council"]["mode"] == "thinking"
        response = httpx.post(served.base_url + "/chat/completions",
                              json={"messages": HI, "max_tokens": 8, "temperature": 0}, timeout=120)
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"].strip()
    assert 1 <= body["usage"]["completion_tokens"] <= 8
