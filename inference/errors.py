"""The one exception the inference layer raises to its callers."""


class EngineError(Exception):
    """A failure a person can act on (missing file, prompt too long, server down)."""
