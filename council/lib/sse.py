"""A small client for Council's Server-Sent Events stream, for tests, benchmarks and scripts."""

from __future__ import annotations

import json
import time

import httpx


def read_events(client: httpx.Client, url: str, timeout: float = 120, on_event=None) -> list[tuple[str, dict]]:
    """The stream at `url` as [(event, data)] up to and including `end`.

    `timeout` bounds each wait for a line; `on_event(name, data, received_at)` is called
    as each event arrives (received_at: time.time()).
    """
    events = []
    with client.stream("GET", url, timeout=httpx.Timeout(60, read=timeout)) as stream:
        if stream.status_code != 200:
            stream.read()
            raise RuntimeError(f"GET {url}: {stream.status_code} {stream.text[:200]}")
        if not stream.headers.get("content-type", "").startswith("text/event-stream"):
            raise RuntimeError(f"GET {url}: not an event stream ({stream.headers.get('content-type')})")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if on_event is not None:
                    on_event(name, data, time.time())
                events.append((name, data))
                if name == "end":
                    break
    return events


def deltas_by_response(events) -> dict[str, str]:
    """The concatenated delta text of each response in an event list."""
    texts: dict[str, list[str]] = {}
    for name, data in events:
        if name == "response.delta":
            texts.setdefault(data["response_id"], []).append(data["text"])
    return {rid: "".join(parts) for rid, parts in texts.items()}
