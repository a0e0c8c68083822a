"""How long a check-in may have waited in a kiosk's outbox before it reaches ingest.

A kiosk keeps a check-in in its outbox until a receipt names it, so a record can
arrive well after its scan: while the kiosk was offline, or the aggregator down.
That wait is bounded by ``max_outbox_age_s`` (``aggregator.max_outbox_age_days``).
A record whose scan cannot be placed within that bound before its arrival is
refused for good as ``too_old``, never sealed as a fresh visit:

- placed by its own synchronised clock, an anchor or a heartbeat: the placed scan
  time must not lie more than the bound (plus the clock skew) before arrival;
- placed only at its arrival (``received``: an unsynchronised clock and nothing of
  its boot to go by): the scan took place within the code's validity after the
  code's own timestamp, so the code must be dated no earlier than
  ``arrival - bound - window - skew``.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ExpiredError

from . import placement

DAY_S = 86_400
#: Default bound: a kiosk offline for a week still delivers; a year-old code never does.
DEFAULT_MAX_OUTBOX_AGE_DAYS = 7


class TooOldError(ExpiredError):
    """The record waited longer than any kiosk outbox may hold it."""

    reason = "too_old"


@dataclass(frozen=True)
class OutboxAge:
    """The bound on a record's wait, with the code validity it is judged with."""

    max_age_s: int = DEFAULT_MAX_OUTBOX_AGE_DAYS * DAY_S
    window_s: int = 30
    skew_s: int = 5

    @property
    def received_window_s(self) -> int:
        """Code age allowed for a record placed at its arrival: the wait plus the validity."""
        return self.max_age_s + self.window_s

    def check(self, placed: placement.Placement, code_timestamp: int, received_ms: int) -> None:
        """Raise TooOldError unless the scan can be placed within the bound before arrival."""
        earliest_s = received_ms / 1000 - self.max_age_s - self.skew_s
        if placed.how == placement.RECEIVED:
            latest_scan_s = code_timestamp + self.window_s
            what = "its code"
        else:
            latest_scan_s = placed.placed_ms / 1000
            what = f"its scan (placed by {placed.how})"
        if latest_scan_s < earliest_s:
            days = (received_ms / 1000 - latest_scan_s) / DAY_S
            raise TooOldError(
                f"{what} is {days:.1f} days older than its arrival; a kiosk outbox holds "
                f"records at most {self.max_age_s / DAY_S:g} days"
            )
