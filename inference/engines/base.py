"""The engine protocol every backend implements."""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

from inference.types import GenerationRequest, StreamEvent


@runtime_checkable
class Engine(Protocol):
    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        """Yield zero or more deltas, then exactly one terminal event; never raise."""
        ...

    def cancel(self, request_id: str) -> None:
        """Make the stream of `request_id` end with `cancelled` within one decode step."""
        ...

    def describe(self) -> dict:
        """backend, device, dtype, quantization, speculation: for the UI and metrics."""
        ...


class EngineError(Exception):
    """A failure a person can act on (missing file, prompt too long, server down)."""
