"""Helpers for the inference tests: build a request, collect a stream."""

from __future__ import annotations

from inference.types import GenerationRequest, Message, StreamEvent


def ask(text: str, request_id: str = "r", *, system: str | None = None, **kwargs) -> GenerationRequest:
    """A one-turn request; greedy (temperature 0) unless told otherwise."""
    messages = ((Message("system", system),) if system else ()) + (Message("user", text),)
    return GenerationRequest(request_id, messages, **kwargs)


def collect(events) -> tuple[str, str, StreamEvent, list[StreamEvent]]:
    """(answer text, reasoning text, terminal event, all events) of one stream."""
    events = list(events)
    answer = "".join(e.text for e in events if e.type == "delta" and e.kind.value == "answer")
    reasoning = "".join(e.text for e in events if e.type == "delta" and e.kind.value == "reasoning")
    return answer, reasoning, events[-1], events
