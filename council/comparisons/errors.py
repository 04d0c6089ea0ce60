"""Errors a person must act on, each with the HTTP status the API answers with."""


class SubmissionError(ValueError):
    """Input a person must fix; the message says how."""

    status = 400
    retry_after: int | None = None


class QueueUnavailable(SubmissionError):
    """The task queue cannot take work now; nothing was created."""

    status = 503
    retry_after = 5


def with_retry_after(response, exc):
    """`response` with the Retry-After header `exc` asks for, if it asks for one."""
    seconds = getattr(exc, "retry_after", None)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


class TooManyRequests(SubmissionError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
