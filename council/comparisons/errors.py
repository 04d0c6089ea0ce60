"""Errors a person must act on, each with the HTTP status the API answers with."""


class SubmissionError(ValueError):
    """Input a person must fix; the message says how."""

    status = 400
    retry_after: int | None = None


class QueueUnavailable(SubmissionError):
    """The task queue cannot take work now; nothing was created."""

    status = 503
    retry_after = 5


class TooManyRequests(SubmissionError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
