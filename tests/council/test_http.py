"""No 500 from client input, and JSON errors on every /api/ route (council/http.py, council/lib/jsonbody.py)."""

import json
import uuid
from unittest import mock

import httpx
import pytest
from django.test import Client, override_settings

from council.accounts.models import ApiToken
from council.comparisons.models import Comparison, Response
from tests.conftest import requires_services

pytestmark = pytest.mark.django_db

SMOL = "smollm2-135m-instruct"


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def finished_turn(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="First", mode="fast")
    Response.objects.create(comparison=comparison, model=bundled[SMOL], mode="fast", status="done", text="Answer")
    return comparison


def post_raw(client, path, raw: str):
    return client.post(path, data=raw.encode(), content_type="application/json")


def counts():
    return Comparison.objects.count(), Response.objects.count()


@pytest.mark.parametrize(
    "raw, field",
    [
        ('{"prompt": "Hi \\ud800", "models": ["%s"]}' % SMOL, "prompt"),
        ('{"prompt": "Hi", "system_prompt": "\\udfff tail", "models": ["%s"]}' % SMOL, "system_prompt"),
        ('{"prompt": "Hi", "models": ["%s", "\\ud83d"]}' % SMOL, "models[1]"),
        ('{"prompt": "Hi", "models": ["%s"], "mode": "\\udc00"}' % SMOL, "mode"),
        ('{"prompt": "Hi\\u0000", "models": ["%s"]}' % SMOL, "prompt"),
        ('{"prompt": "Hi", "models": ["\\u0000"]}', "models[0]"),
        ('{"prompt": "Hi", "models": ["%s"], "\\ud800": 1}' % SMOL, "A key in the request body"),
    ],
)
def test_strings_a_database_cannot_hold_get_a_400_naming_the_field_on_create(alice_client, bundled, raw, field):
    response = post_raw(alice_client, "/api/comparisons", raw)
    assert response.status_code == 400
    assert response.json()["error"].startswith(field), response.json()
    assert counts() == (0, 0)


@pytest.mark.parametrize("raw", ['{"prompt": "\\ud800"}', '{"prompt": "a\\u0000b"}', '{"prompt": [[[[[[]]]]]], "x": "\\udbff"}'])
def test_strings_a_database_cannot_hold_get_a_400_on_follow_up(alice_client, finished_turn, raw):
    before = counts()
    response = post_raw(alice_client, f"/api/comparisons/{finished_turn.id}/follow-up", raw)
    assert response.status_code == 400 and "error" in response.json()
    assert counts() == before


def test_a_valid_surrogate_pair_is_ordinary_text(alice_client, bundled):
    response = post_raw(alice_client, "/api/comparisons", '{"prompt": "smile \\ud83d\\ude00", "models": ["%s"]}' % SMOL)
    assert response.status_code == 201
    assert Comparison.objects.get().prompt == "smile \U0001F600"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
@pytest.mark.parametrize("route", ["create", "follow-up"])
def test_deeply_nested_bodies_get_a_400_not_a_recursion_error(alice_client, finished_turn, depth, route):
    path = "/api/comparisons" if route == "create" else f"/api/comparisons/{finished_turn.id}/follow-up"
    before = counts()
    response = post_raw(alice_client, path, '{"prompt": ' + "[" * depth + "]" * depth + "}")
    assert response.status_code == 400
    assert "nests arrays or objects more than 32 deep" in response.json()["error"]
    assert counts() == before


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"prompt": "Hi", "models": ["%s"], "temperature": NaN}' % SMOL, "NaN is not a JSON number"),
        ('{"prompt": "Hi", "models": ["%s"], "max_tokens": Infinity}' % SMOL, "Infinity is not a JSON number"),
        ('{"prompt": "Hi", "models": ["%s"], "max_tokens": %s}' % (SMOL, "9" * 5000), "not valid JSON"),
    ],
)
def test_what_python_parses_but_json_does_not_allow_is_a_400(alice_client, bundled, raw, message):
    response = post_raw(alice_client, "/api/comparisons", raw)
    assert response.status_code == 400 and message in response.json()["error"]


def test_a_body_that_is_not_utf8_is_a_400(alice_client, bundled):
    response = alice_client.post("/api/comparisons", data=b'{"prompt": "\xff"}', content_type="application/json")
    assert response.status_code == 400 and "not valid UTF-8" in response.json()["error"]


@override_settings(COUNCIL_MAX_BODY_BYTES=1000)
def test_a_body_over_the_limit_gets_413_in_json_and_creates_nothing(alice_client, bundled):
    raw = json.dumps({"prompt": "x" * 2000, "models": [SMOL]})
    response = post_raw(alice_client, "/api/comparisons", raw)
    assert response.status_code == 413
    assert "the limit is 1000" in response.json()["error"]
    assert counts() == (0, 0)


@override_settings(COUNCIL_MAX_BODY_BYTES=1000)
def test_a_form_post_over_the_limit_gets_413(alice_client, bundled):
    response = alice_client.post("/comparisons/new", {"prompt": "x" * 2000, "models": [SMOL]})
    assert response.status_code == 413 and counts() == (0, 0)


def test_nul_in_a_form_field_gets_400_and_creates_nothing(alice_client, bundled):
    response = alice_client.post("/comparisons/new", {"prompt": "Hi", "models": ["smol\x00lm"], "mode": "fast"})
    assert response.status_code == 400 and b"form field 'models'" in response.content
    assert counts() == (0, 0)


@pytest.mark.parametrize("path", ["/history/?q=a%00b", "/api/comparisons?q=%00", "/api/models?x%00=1"])
def test_nul_in_a_query_string_gets_400(alice_client, path):
    response = alice_client.get(path)
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert "must not contain NUL characters" in response.json()["error"]


@pytest.mark.parametrize("path", ["/s/%00/", "/api/comparisons/%00"])
def test_nul_in_the_path_gets_400(alice_client, path):
    assert alice_client.get(path).status_code == 400


def test_nul_in_the_session_cookie_gets_400(db):
    client = Client()
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert client.get("/api/models").status_code == 400


def test_every_api_error_status_is_json(alice, bob, alice_client, finished_turn, bundled):
    """400, 401, 403, 404, 405, 409, 413, 429 and 500 all answer {"error": ...} under /api/."""
    token, raw = ApiToken.issue(alice, "script")
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(alice)
    response = finished_turn.responses.get()
    Comparison.objects.create(owner=alice, prompt="Later", mode="fast", parent=finished_turn)
    answers = {
        400: post_raw(alice_client, "/api/comparisons", "{nope"),
        401: Client().get("/api/models"),
        403: post_raw(csrf_client, "/api/comparisons", "{}"),
        404: bearer.get("/api/no-such-route"),
        405: bearer.get(f"/api/comparisons/{finished_turn.id}/cancel"),
        409: bearer.post(f"/api/responses/{response.id}/regenerate"),
    }
    with override_settings(COUNCIL_MAX_BODY_BYTES=10):
        answers[413] = post_raw(bearer, "/api/comparisons", '{"prompt": "long enough"}')
    with override_settings(COUNCIL_RATE_LIMIT_PER_MINUTE=0):
        answers[429] = post_raw(bearer, "/api/comparisons", json.dumps({"prompt": "Hi", "models": [SMOL]}))
    failing = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw}")
    with mock.patch("council.comparisons.api.comparison_json", side_effect=RuntimeError("boom")):
        answers[500] = failing.get(f"/api/comparisons/{finished_turn.id}")
    answers[404.1] = bearer.get(f"/api/comparisons/{uuid.uuid4()}")
    answers[404.2] = bearer.get("/api/comparisons/not-a-uuid")
    for status, answer in answers.items():
        assert answer.status_code == int(status), (status, answer.status_code, answer.content[:200])
        assert answer["Content-Type"] == "application/json", (status, answer["Content-Type"])
        assert isinstance(answer.json()["error"], str) and answer.json()["error"], status
    assert "takes POST" in answers[405].json()["error"] and answers[405]["Allow"] == "POST"
    assert "CSRF" in answers[403].json()["error"]
    assert answers[429]["Retry-After"]
    assert "boom" not in answers[500].json()["error"]  # the traceback stays in the log


def test_pages_keep_their_html_error_pages(alice_client):
    response = alice_client.get("/no-such-page/")
    assert response.status_code == 404 and not response["Content-Type"].startswith("application/json")


@pytest.mark.django_db(transaction=True)
async def test_the_websocket_ignores_hostile_messages_and_keeps_streaming(alice, bundled):
    """Whatever a client sends on the socket (invalid Unicode, binary, a large frame) changes nothing."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from council.asgi import application
    from tests.council.comparisons.test_consumer import session_headers

    comparison = await Comparison.objects.acreate(owner=alice, prompt="Hi", mode="fast")
    await Response.objects.acreate(comparison=comparison, model=bundled[SMOL], mode="fast", status="running")
    communicator = WebsocketCommunicator(
        application, f"/ws/comparisons/{comparison.id}/", headers=await sync_to_async(session_headers)(alice)
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    await communicator.receive_from(timeout=10)  # the column so far
    for message in ("\ud800", "\x00", "[" * 100_000, json.dumps({"type": "response.status"}), "x" * 1_000_000):
        await communicator.send_to(text_data=message)
    await communicator.send_to(bytes_data=b"\xff\xfe\x00")
    assert await communicator.receive_nothing(timeout=0.5)
    assert await Comparison.objects.acount() == 1 and await Response.objects.filter(status="running").acount() == 1
    await communicator.disconnect()


@requires_services
def test_through_the_real_server_hostile_bodies_and_unknown_routes_answer_json(daphne_server, alice, bundled):
    """The issue's report, replayed against daphne: each answer is a 4xx in JSON, never a 500 page."""
    _, raw = ApiToken.issue(alice, "script")
    bodies = [
        '{"prompt": "\\ud800", "models": ["%s"]}' % SMOL,
        '{"prompt": "Hi", "models": ["%s"], "system_prompt": "\\udfff"}' % SMOL,
        '{"prompt": "Hi", "models": ["\\ud800"]}',
        '{"prompt": ' + "[" * 50_000 + "]" * 50_000 + "}",
        '{"prompt": "Hi", "models": ["%s"], "x": %s}' % (SMOL, "{\"a\": " * 5_000 + "1" + "}" * 5_000),
    ]
    with httpx.Client(base_url=daphne_server, headers={"Authorization": f"Bearer {raw}"}, timeout=30) as client:
        answers = [client.post("/api/comparisons", content=body.encode(),
                               headers={"Content-Type": "application/json"}) for body in bodies]
        answers += [client.get("/api/nowhere"), client.delete("/api/comparisons"),
                    client.post("/api/comparisons", content=b"x" * (2 * 1024 * 1024 + 1))]
    assert [a.status_code for a in answers] == [400] * len(bodies) + [404, 405, 413]
    for answer in answers:
        assert answer.headers["content-type"] == "application/json" and answer.json()["error"]
    assert Comparison.objects.count() == 0
