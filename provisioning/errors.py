"""The one failure type of provisioning: which step failed, and why, in words."""

from __future__ import annotations


class StepFailed(RuntimeError):
    """A provisioning step that could not be done; the message says what to do about it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


class OutcomeUnknown(StepFailed):
    """A change request reached (or may have reached) the aggregator, with no clear answer.

    An HTTP 5xx, a timeout or a dropped connection after the request went out: the change
    may have been made, so nothing that depends on it is undone.
    """
