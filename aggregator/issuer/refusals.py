"""Why the issuer refuses a request: an HTTP status, a counted reason and a message."""

from __future__ import annotations


class IssuanceRefused(Exception):
    """A wallet request refused; ``reason`` is the ``api_refused`` label.

    ``retry_after`` (seconds), when set, tells the wallet when asking again can succeed.
    """

    def __init__(
        self, status: int, reason: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
