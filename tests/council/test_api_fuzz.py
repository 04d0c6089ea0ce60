"""Every operation of the OpenAPI document, fuzzed as alice and bob through the whole Django stack.

For each operation in /api/openapi.json, hypothesis draws who asks (alice's or bob's bearer
token, no credentials, or alice's browser session without the CSRF token), the path
parameters (an object of alice's, one of bob's, an unknown id, text that is no id), the
query parameters (from their schema, or hostile text), sometimes another method, and a
body: shaped by the operation's schema (each field drawn from it, from its example, or
hostile), the whole example (valid), arbitrary JSON with lone surrogates and NUL, bytes that
are not JSON, or deep nesting. Every answer must:

- never be a 5xx; be JSON (or the documented event stream) and conform to the document;
- when rejected, leave the row count of every table as it was;
- never carry the other user's data (each user's prompts and answers hold a marker), and
  never be a success for another user's object or for a caller without credentials.

Fakes, said here because a valid request would otherwise start real work:
- the dispatcher is `finish_at_once`: instead of queueing a task it marks each response
  done with a canned answer, so follow-ups and regenerate find ended turns to act on;
- the event stream runs under a stream timeout (`sse.MAX_STREAM_SECONDS` = 1 s, keepalive
  0.2 s): the in-flight comparison's columns never end, and the stream would not either;
  after each stream the process's channel layer is dropped, since the test client gives
  every stream an event loop of its own;
- the per-user limits are raised, or the fuzzer's own pace would make most answers 429.

Budget: `COUNCIL_FUZZ_EXAMPLES` examples per operation (default 25 in `make test`). A longer
run: `COUNCIL_FUZZ_EXAMPLES=2000 make test PYTEST_ARGS="tests/council/test_api_fuzz.py -p no:cacheprovider"`.
The number of requests sent is printed at the end of the run.
"""

import json
import os
import re
import uuid
from urllib.parse import quote, urlencode

import pytest
from channels.layers import channel_layers
from django.apps import apps
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from council.accounts.models import ApiToken
from council.comparisons import sse
from council.comparisons.models import Comparison, Response, Status
from council.openapi import document

EXAMPLES = int(os.environ.get("COUNCIL_FUZZ_EXAMPLES", "25"))
DOCUMENT = document()
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = [(path, method) for path, item in DOCUMENT["paths"].items() for method in METHODS if method in item]
MARKERS = {"alice": "ALICE-SECRET-7f3a", "bob": "BOB-SECRET-91c2"}
SENT = {"requests": 0}

pytestmark = [
    pytest.mark.django_db,
    # The test client reads the async event stream synchronously, and says so each time.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]


def finish_at_once(responses, **options):
    """The named fake dispatcher: every response ends at once, done, with a canned answer."""
    Response.objects.filter(id__in=[r.id for r in responses], status=Status.QUEUED).update(
        status=Status.DONE, text="A canned answer.", finish_reason="stop", finished_at=timezone.now()
    )


def deref(node: dict) -> dict:
    """`node` with its `$ref` (into this document) followed."""
    while isinstance(node, dict) and "$ref" in node:
        target = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


hostile_chars = st.one_of(
    st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001f600", "\u202e", "%", "_", "\\", "'"])
)
hostile_text = st.text(alphabet=hostile_chars, max_size=30)
# Text that a database or an engine cannot hold: a lone surrogate or a NUL somewhere in it.
unstorable_text = st.tuples(st.text(max_size=8), st.sampled_from(["\ud800", "\udfff", "\x00"]), st.text(max_size=8)).map(
    "".join
)
# Nesting too deep for json.dumps itself: a placeholder, spelled out by `encode`.
deep_json = st.integers(20, 3000).map(lambda depth: f"<deep {depth}>")
hostile_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63) | st.floats(allow_nan=False)
    | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=10,
)
mutants = st.one_of(unstorable_text, unstorable_text, deep_json, hostile_json)


def from_schema(schema: dict) -> st.SearchStrategy:
    """Values of a JSON Schema: the subset this document uses, and any JSON for the rest."""
    schema = deref(schema)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of(*[from_schema(option) for option in schema[key]])
    types = schema.get("type")
    if types is None:
        return hostile_json
    options = []
    for kind in [types] if isinstance(types, str) else types:
        if kind == "null":
            options.append(st.none())
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "integer":
            options.append(st.integers(schema.get("minimum"), schema.get("maximum")))
        elif kind == "number":
            options.append(st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False,
                                     allow_infinity=False))
        elif kind == "string" and schema.get("format") == "uuid":
            options.append(st.uuids().map(str))
        elif kind == "string":
            low = schema.get("minLength", 0)
            options.append(st.text(alphabet=hostile_chars, min_size=low,
                                   max_size=max(low, min(schema.get("maxLength", 40), 40))))
        elif kind == "array":
            low = schema.get("minItems", 0)
            options.append(st.lists(from_schema(schema.get("items", {})), min_size=low,
                                    max_size=max(low, min(schema.get("maxItems", 4), 4))))
        elif kind == "object":
            options.append(object_values(schema))
    return st.one_of(*options)


def object_values(schema: dict, example: dict | None = None) -> st.SearchStrategy:
    """Objects with each property drawn from its schema, the example's value, or hostile JSON."""
    example = example or {}
    fields = {}
    for name, child in schema.get("properties", {}).items():
        choices = [from_schema(child), hostile_json]
        if name in example:
            choices = [st.just(example[name])] * 3 + choices
        fields[name] = st.one_of(*choices)
    required = {name: fields.pop(name) for name in schema.get("required", []) if name in fields}
    return st.fixed_dictionaries(required, optional=fields)


def encode(value) -> bytes:
    """JSON with lone surrogates as escapes (`\\ud800`), and each deep-nesting placeholder spelled out."""
    text = json.dumps(value)
    return re.sub(r'"<deep (\d+)>"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text).encode()


def mutated(example: dict, schema: dict) -> st.SearchStrategy:
    """The valid example with one field, or one item of a list field, made hostile."""
    names = sorted(set(example) | set(schema.get("properties", {})))

    def mutate(name, value, append):
        if append and isinstance(example.get(name), list):
            return {**example, name: [*example[name], value]}
        return {**example, name: value}

    return st.builds(mutate, st.sampled_from(names), mutants, st.booleans())


def bodies(operation: dict) -> st.SearchStrategy:
    """(raw bytes, content type) for a request to `operation`."""
    not_json = st.one_of(
        st.binary(max_size=40),
        st.integers(33, 3000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
        st.sampled_from([b"{", b"NaN", b'{"prompt": Infinity}', b"\xff\xfe", b"9" * 5000]),
    )
    values = [hostile_json, st.just({})]
    if "requestBody" in operation:
        schema = deref(deref(operation["requestBody"])["content"]["application/json"]["schema"])
        example = schema.get("example", {})
        values = [object_values(schema, example)] * 3 + [hostile_json]
        if example:
            values += [st.just(example)] + [mutated(example, schema)] * 4
    encoded = st.one_of(*values).map(encode)
    content = st.one_of(encoded, encoded, encoded, encoded, not_json, st.just(b""))
    content_type = st.sampled_from(["application/json"] * 6 + ["text/plain", "application/x-www-form-urlencoded"])
    return st.tuples(content, content_type)


@pytest.fixture
def fakes(monkeypatch):
    """The fake dispatcher and the stream timeout of the docstring."""
    monkeypatch.setattr("council.comparisons.dispatch.enqueue", finish_at_once)
    monkeypatch.setattr(sse, "MAX_STREAM_SECONDS", 1)
    monkeypatch.setattr(sse, "KEEPALIVE_SECONDS", 0.2)


def seed_through_the_api(client, marker: str) -> dict:
    """Objects that routes of other groups act on, made as a client would make them: {path parameter: [ids]}."""
    made = {}
    if "/api/battles" in DOCUMENT["paths"]:
        answer = client.post("/api/battles", {"prompt": f"{marker} battle"}, content_type="application/json")
        assert answer.status_code == 201, answer.content
        made["battle_id"] = [answer.json()["id"]]
        made["response_id"] = [r["id"] for r in answer.json()["responses"]]
    return made


@pytest.fixture
def world(alice, bob, bundled, fakes, django_capture_on_commit_callbacks):
    """Each user's bearer token, an ended thread and an in-flight comparison (and one object of each
    other group), all marked as theirs."""
    model = bundled["smollm2-135m-instruct"]
    objects = {}
    for user in (alice, bob):
        marker = MARKERS[user.username]
        ended = Comparison.objects.create(owner=user, prompt=f"{marker} question", mode="fast")
        answers = [Response.objects.create(comparison=ended, model=model, mode=mode, position=n, status=Status.DONE,
                                           text=f"{marker} answer") for n, mode in enumerate(["fast", "thinking"])]
        flying = Comparison.objects.create(owner=user, prompt=f"{marker} still running", mode="fast")
        running = Response.objects.create(comparison=flying, model=model, mode="fast", status=Status.RUNNING,
                                          text=f"{marker} so far")
        _, raw = ApiToken.issue(user, "fuzz")
        objects[user.username] = {
            "token": raw,
            "comparison_id": [str(ended.id), str(flying.id)],
            "response_id": [str(answers[0].id), str(running.id)],
        }
        with django_capture_on_commit_callbacks(execute=True):
            seeded = seed_through_the_api(Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), marker)
        for name, ids in seeded.items():
            objects[user.username].setdefault(name, []).extend(ids)
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)
    return {"objects": objects, "session": session}


@pytest.fixture(scope="module", autouse=True)
def report_requests_sent(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nAPI fuzz: {SENT['requests']} requests over {len(OPERATIONS)} operations "
                f"(up to {EXAMPLES} examples each; COUNCIL_FUZZ_EXAMPLES)"
            )


def row_counts() -> dict:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def path_values(name: str, objects: dict) -> st.SearchStrategy:
    """(value, owner) for a path parameter: an object of alice's or bob's, or no one's."""
    known = [(value, user) for user, own in objects.items() for value in own.get(name, [])]
    nobody = st.one_of(st.uuids().map(lambda u: (str(u), None)), hostile_text.map(lambda text: (text, None)))
    return st.one_of(st.sampled_from(known), nobody) if known else nobody


def query_values(parameter: dict) -> st.SearchStrategy:
    return st.one_of(from_schema(parameter.get("schema", {})).map(str), hostile_text)


def conforms(operation: dict, status: int, payload) -> None:
    answers = operation["responses"]
    documented = answers.get(str(status)) or answers.get("default")
    assert documented is not None, f"status {status} is not documented"
    schema = deref(documented)["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]}, format_checker=FormatChecker())
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]
    assert not problems, problems


@pytest.mark.parametrize("path, method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_fuzzing_an_operation_finds_no_5xx_no_stray_rows_and_no_cross_user_read(
    path, method, world, django_capture_on_commit_callbacks
):
    item = DOCUMENT["paths"][path]
    operation = item[method]
    parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
    names = re.findall(r"\{(\w+)\}", path)
    objects = world["objects"]

    @override_settings(COUNCIL_RATE_LIMIT_PER_MINUTE=10**6, COUNCIL_MAX_ACTIVE_RESPONSES=10**6)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(
        who=st.sampled_from(["alice", "alice", "bob", "bob", "anonymous", "alice-session"]),
        params=st.fixed_dictionaries({name: path_values(name, objects) for name in names}),
        query=st.fixed_dictionaries({}, optional={p["name"]: query_values(p) for p in parameters
                                                  if p["in"] == "query"}),
        verb=st.sampled_from([method] * 9 + list(METHODS)),
        content=bodies(operation),
    )
    def exchange(who, params, query, verb, content):
        url = path
        for name, (value, _) in params.items():
            url = url.replace("{" + name + "}", quote(value.encode("utf-8", "surrogatepass"), safe=""))
        if query:
            url += "?" + urlencode(query, errors="surrogatepass")
        raw, content_type = content
        if who == "alice-session":
            client = world["session"]
        else:
            token = objects[who]["token"] if who in objects else None
            client = Client(**({"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}))
        before = row_counts()
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.generic(verb.upper(), url, data=raw, content_type=content_type)
        SENT["requests"] += 1
        status = answer.status_code
        context = (who, verb, url, raw[:200], status)
        assert status < 500, context

        if answer.streaming:
            body = b"".join(answer)
            # The test client runs each stream on an event loop of its own (daphne runs all on
            # one), and a Redis layer whose receive was cut off with its loop refuses other loops.
            channel_layers.backends.clear()
        else:
            body = answer.content
        if answer["Content-Type"].startswith("text/event-stream"):
            assert status == 200 and "text/event-stream" in operation["responses"]["200"]["content"], context
        else:
            assert answer["Content-Type"] == "application/json", context
            payload = json.loads(body)
            if verb in item:
                conforms(item[verb], status, payload)
            else:
                assert status >= 400, context
                conforms({"responses": {"default": {"$ref": "#/components/responses/Error"}}}, status, payload)
            if status >= 400:
                assert isinstance(payload.get("error"), str) and payload["error"], context
        if status >= 400:
            assert row_counts() == before, context

        user = who.removesuffix("-session")
        text = body.decode("utf-8", "replace")
        for owner, marker in MARKERS.items():
            if owner != user:
                assert marker not in text, ("cross-user read", context)
        if 200 <= status < 300 and operation.get("security") != []:
            assert user in objects, ("success without credentials", context)
            assert all(owner in (None, user) for _, owner in params.values()), ("another user's object", context)

    exchange()
