"""A battle's live streams stay blind: the WebSocket page fragments, and SSE through daphne and
a real `celery worker` on the bundled models, up to the vote that names them."""

import httpx
import pytest
from arena_helpers import entrant
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from council.accounts.models import ApiToken
from council.arena.models import Battle
from council.asgi import application
from council.comparisons.events import group_for
from council.comparisons.models import Comparison, Response, Status
from council.lib.sse import deltas_by_response, read_events
from tests.conftest import requires_services

pytestmark = [pytest.mark.django_db(transaction=True), requires_services]

SMOL, GEMMA = "smollm2-135m-instruct", "gemma-3-270m"


def session_headers(user):
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"host", b"localhost"), (b"origin", b"http://localhost")]


@pytest.fixture
def running_battle(alice, bundled):
    """A battle whose two answers are generating (rows only: no worker in these tests)."""
    comparison = Comparison.objects.create(owner=alice, prompt="Sea?", mode="fast", blind=True)
    a, b = entrant(bundled[GEMMA], "fast"), entrant(bundled[SMOL], "fast")
    for position, e in enumerate((a, b)):
        Response.objects.create(comparison=comparison, model=e.model, mode=e.mode, position=position,
                                status=Status.RUNNING, text=f"So far {position}", seq=2)
    return Battle.objects.create(owner=alice, mode="fast", comparison=comparison, entrant_a=a, entrant_b=b)


def assert_blind(html):
    for name in (SMOL, GEMMA, "SmolLM2", "Gemma", "llamacpp"):
        assert name not in html, f"{name} leaked in {html[:300]}"


async def test_the_battle_socket_sends_labelled_columns_and_text_but_never_a_name(running_battle, alice):
    communicator = WebsocketCommunicator(application, f"/ws/battles/{running_battle.id}/",
                                         headers=await sync_to_async(session_headers)(alice))
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    first = [await communicator.receive_from(timeout=10) for _ in range(3)]
    assert 'data-label="A"' in first[0] and "So far 0" in first[0] and 'data-label="B"' in first[1]
    assert 'id="vote-panel"' in first[2] and "disabled" in first[2]
    for html in first:
        assert_blind(html)

    a, b = await sync_to_async(lambda: list(running_battle.comparison.responses.order_by("position")))()
    layer = get_channel_layer()
    group = group_for(running_battle.comparison_id)
    await layer.group_send(group, {"type": "response.delta", "response_id": str(a.id), "seq": 3, "text": " more",
                                   "kind": "answer", "live": {"completion_tokens": 3}})
    delta = await communicator.receive_from(timeout=10)
    assert " more" in delta and "figures" not in delta
    await layer.group_send(group, {"type": "response.quality", "response_id": str(a.id),
                                   "quality": {"reference": "thinking", "top1_agreement": 0.9}})
    assert await communicator.receive_nothing(timeout=0.3)  # quality scores would give the mode away

    await Response.objects.filter(comparison=running_battle.comparison).aupdate(status=Status.DONE)
    await layer.group_send(group, {"type": "response.status", "response_id": str(b.id), "status": "done",
                                   "metrics": {"engine": "llamacpp"}})
    updates = [await communicator.receive_from(timeout=10) for _ in range(2)]
    assert 'data-status="done"' in updates[0] and "Which answer is better?" in updates[1]
    assert "disabled" not in updates[1]
    for html in updates:
        assert_blind(html)
    await communicator.disconnect()


async def test_bob_cannot_open_alices_battle_socket(running_battle, bob):
    communicator = WebsocketCommunicator(application, f"/ws/battles/{running_battle.id}/",
                                         headers=await sync_to_async(session_headers)(bob))
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4403


def test_a_battle_on_the_bundled_models_streams_blind_then_the_vote_names_them(daphne_server, alice, bundled,
                                                                             celery_worker, worker_queue):
    for model in bundled.values():
        model.queue = worker_queue
        model.default_max_tokens = 24
        model.save()
    _, token = ApiToken.issue(alice, "test")
    with httpx.Client(base_url=daphne_server, headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
        created = api.post("/api/battles", json={"prompt": "Write one sentence about the sea.", "mode": "fast"})
        assert created.status_code == 201, created.text
        battle_id = created.json()["id"]
        raw = []
        events = read_events(api, f"/api/battles/{battle_id}/events", on_event=lambda n, d, t: raw.append(repr(d)))
        assert events[0][0] == "snapshot" and events[-1][0] == "end"
        assert [r["label"] for r in events[0][1]["responses"]] == ["A", "B"]
        assert {name for name, _ in events} <= {"snapshot", "response.delta", "response.status", "end"}
        for data in raw:
            assert_blind(data)
            assert "metrics" not in data and "live" not in data

        detail = api.get(f"/api/battles/{battle_id}").json()
        texts = deltas_by_response(events)
        snapshot = {r["id"]: r["text"] for r in events[0][1]["responses"]}
        for response in detail["turns"][0]["responses"]:
            assert response["status"] == "done", response["error"]
            assert snapshot[response["id"]] + texts.get(response["id"], "") == response["text"] != "", (events[0], [e for e in events if e[0] != "response.delta"], len(events))
        assert_blind(repr(detail))

        voted = api.post(f"/api/battles/{battle_id}/vote", json={"winner": "A"})
        assert voted.status_code == 200
        assert {(r["model"], r["mode"]) for r in voted.json()["responses"]} == {(SMOL, "fast"), (GEMMA, "fast")}
        board = api.get("/api/leaderboard").json()
        assert board["votes"] == int(voted.json()["vote"]["counted"])
