"""The WebSocket consumer through the real ASGI stack (session cookie, origin check, Redis layer)."""

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from council.asgi import application
from council.comparisons.events import group_for
from council.comparisons.models import Comparison, Response
from tests.conftest import requires_services

pytestmark = [pytest.mark.django_db(transaction=True), requires_services]


def session_headers(user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [(b"cookie", f"sessionid={cookie}".encode()), (b"host", b"localhost"), (b"origin", b"http://localhost")]


@pytest.fixture
def running(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="Hi", mode="fast")
    return Response.objects.create(
        comparison=comparison, model=bundled["smollm2-135m-instruct"], mode="fast",
        status="running", text="Hello so far", seq=3,
    )


async def test_it_sends_the_state_so_far_then_live_deltas_in_order(running, alice):
    communicator = WebsocketCommunicator(
        application, f"/ws/comparisons/{running.comparison_id}/", headers=await sync_to_async(session_headers)(alice)
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    first = await communicator.receive_from(timeout=10)
    assert f'id="col-{running.id}"' in first and "Hello so far" in first and 'data-status="running"' in first

    layer = get_channel_layer()
    group = group_for(running.comparison_id)
    rid = str(running.id)
    for seq, text in [(3, " (old)"), (4, " and"), (5, " <b>more</b>")]:
        await layer.group_send(group, {"type": "response.delta", "response_id": rid, "seq": seq, "text": text,
                                       "kind": "answer", "live": {"completion_tokens": seq}})
    second = await communicator.receive_from(timeout=10)
    third = await communicator.receive_from(timeout=10)
    assert " and" in second and 'hx-swap-oob="beforeend"' in second
    assert "&lt;b&gt;more&lt;/b&gt;" in third  # model output is inert
    assert await communicator.receive_nothing(timeout=0.3)  # seq 3 was already in the text
    await communicator.disconnect()


async def test_a_status_event_re_renders_the_column_from_the_database(running, alice):
    communicator = WebsocketCommunicator(
        application, f"/ws/comparisons/{running.comparison_id}/", headers=await sync_to_async(session_headers)(alice)
    )
    await communicator.connect(timeout=10)
    await communicator.receive_from(timeout=10)
    await Response.objects.filter(id=running.id).aupdate(status="done", text="Final text", seq=9)
    await get_channel_layer().group_send(
        group_for(running.comparison_id), {"type": "response.status", "response_id": str(running.id), "status": "done"}
    )
    html = await communicator.receive_from(timeout=10)
    assert 'data-status="done"' in html and "Final text" in html and "Regenerate" in html
    await communicator.disconnect()


async def test_bob_cannot_open_alices_comparison_socket(running, bob):
    communicator = WebsocketCommunicator(
        application, f"/ws/comparisons/{running.comparison_id}/", headers=await sync_to_async(session_headers)(bob)
    )
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4403


async def test_an_anonymous_socket_is_refused(running):
    communicator = WebsocketCommunicator(
        application, f"/ws/comparisons/{running.comparison_id}/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert not connected


async def connects_with(running, alice, replace: dict) -> bool:
    """Whether alice's socket opens with some of its headers replaced (a value of None drops the header)."""
    headers = [h for h in await sync_to_async(session_headers)(alice) if h[0] not in replace]
    headers += [(name, value) for name, value in replace.items() if value is not None]
    communicator = WebsocketCommunicator(application, f"/ws/comparisons/{running.comparison_id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    if connected:
        await communicator.disconnect()
    return connected


@pytest.mark.parametrize("origin", [
    b"http://evil.example",
    b"http://localhost:9999",  # the same host name on another port
    b"https://localhost",  # the same host name over another scheme
    b"http://localhost.evil.example",
    None,
])
async def test_a_socket_from_another_origin_is_refused(running, alice, origin):
    assert not await connects_with(running, alice, {b"origin": origin})


async def test_the_origin_must_match_the_host_with_its_port(running, alice):
    assert await connects_with(running, alice, {b"host": b"localhost:8000", b"origin": b"http://localhost:8000"})
    assert not await connects_with(running, alice, {b"host": b"localhost:8000", b"origin": b"http://localhost"})
    assert not await connects_with(running, alice, {b"host": b"evil.example", b"origin": b"http://evil.example"})


async def test_behind_a_tls_proxy_the_origin_must_be_https(running, alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxied = {b"x-forwarded-proto": b"https"}
    assert await connects_with(running, alice, {**proxied, b"origin": b"https://localhost"})
    assert not await connects_with(running, alice, {**proxied, b"origin": b"http://localhost"})


async def test_a_csrf_trusted_origin_is_accepted(running, alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://council.example"]
    assert await connects_with(running, alice, {b"origin": b"https://council.example"})
