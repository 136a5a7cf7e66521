"""Errors a service-task handler raises to tell the engine what to do next.

* :class:`RetryableError` — a passing failure (timeout, connection refused, HTTP 5xx or 429, SMTP
  4xx): the engine tries again with backoff and records an *incident* when retries run out.
* :class:`PermanentError` — trying again cannot help (HTTP 4xx, invalid or missing data, service
  not configured): the engine records an incident at once, for an administrator to fix and retry.

The message is shown to that administrator as is: a complete sentence in Brazilian Portuguese that
names the service and what went wrong, never a secret (password, token) and never a traceback.
"""

from __future__ import annotations


class TaskError(Exception):
    """Base class of the errors a handler raises on purpose; ``str(error)`` is the pt-BR message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RetryableError(TaskError):
    """A failure that may pass: the engine retries with backoff.

    ``retry_after_s`` is the delay the remote service asked for (HTTP ``Retry-After``), if any; the
    engine may use it as the minimum wait before the next attempt.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(TaskError):
    """A failure that retrying cannot fix: the engine records an incident at once."""
