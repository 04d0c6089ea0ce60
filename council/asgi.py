"""ASGI entry point: `daphne council.asgi:application` (HTTP and WebSocket)."""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "council.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the apps loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from council.arena.routing import websocket_urlpatterns as arena_websocket_urlpatterns  # noqa: E402
from council.comparisons import events, sweeper  # noqa: E402
from council.comparisons.routing import websocket_urlpatterns  # noqa: E402
from council.origin import SameOriginValidator  # noqa: E402

if settings.COUNCIL_SWEEPER:
    sweeper.start()
if settings.COUNCIL_INPROCESS_TASKS:  # embedded: this process decodes, so it warms the models
    from council.catalog import preload  # noqa: E402

    preload.start()

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns + arena_websocket_urlpatterns))
        ),
    }
)


async def application(scope, receive, send):
    # Embedded mode: in-process tasks publish through this loop (see events.server_loop).
    if settings.COUNCIL_INPROCESS_TASKS and events.server_loop is None:
        events.server_loop = asyncio.get_running_loop()
    return await router(scope, receive, send)
