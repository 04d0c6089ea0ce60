"""Publishes streaming events to a comparison's channel-layer group.

Message shapes are DESIGN.md's streaming contract:
`response.delta` {response_id, seq, text, kind, live} and
`response.status` {response_id, status, metrics?, error?}.
"""

from __future__ import annotations

import asyncio
import logging
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

# The ASGI server's event loop, set by council.asgi. The in-memory channel layer is
# not thread-safe, so in embedded mode tasks hand their sends to that loop.
server_loop: asyncio.AbstractEventLoop | None = None


def group_for(comparison_id) -> str:
    return f"comparison.{comparison_id}"


class Publisher:
    """Sends one task's events in order, over one event loop of its own (one Redis pool)."""

    def __init__(self, comparison_id):
        self.group = group_for(comparison_id)
        self.layer = get_channel_layer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failures = 0

    def send(self, message: dict) -> None:
        """Hand the message to the layer (10 s at most); call from sync code only.

        A failed send is logged and dropped, not raised: the database holds the text,
        and clients that missed events catch up from it when they reconnect.
        """
        try:
            self._send(message)
        except Exception as exc:
            self.failures += 1
            if self.failures == 1:
                log.warning("cannot publish to %s (%s: %s); clients will catch up from the database",
                            self.group, exc.__class__.__name__, exc)

    def _send(self, message: dict) -> None:
        send = self.layer.group_send(self.group, message)
        loop = server_loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(send, loop).result(timeout=10)
            return
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(asyncio.wait_for(send, timeout=10))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


def status_message(response_id, status: str, metrics: dict | None = None, error: str | None = None) -> dict:
    message = {"type": "response.status", "response_id": str(response_id), "status": status}
    if metrics:
        message["metrics"] = metrics
    if error:
        message["error"] = error
    return message


def publish_status(comparison_id, response_id, status: str, metrics=None, error=None) -> None:
    """A one-off status event from sync web code (cancel, regenerate, a failed enqueue)."""
    publisher = Publisher(comparison_id)
    try:
        publisher.send(status_message(response_id, status, metrics, error))
    finally:
        publisher.close()
