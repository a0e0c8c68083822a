"""The kiosk's sense of time: wall clock, monotonic clock, boot id, sync state."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from protocol.checkin import ClockState

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


def read_boot_id(path: Path = BOOT_ID_FILE) -> bytes:
    """This boot's id (16 bytes); a random one where the kernel does not offer it."""
    try:
        return uuid.UUID(path.read_text().strip()).bytes
    except (OSError, ValueError):
        return uuid.uuid4().bytes


class KioskClock:
    """Wall and monotonic time plus whether the wall clock is synchronised."""

    def __init__(
        self,
        *,
        synced: Callable[[], bool] | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._synced = synced or TIMESYNC_FLAG.exists
        self._wall = wall
        self._monotonic = monotonic
        self.boot_id = read_boot_id()

    def now(self) -> float:
        """Wall-clock time in seconds."""
        return self._wall()

    def state(self) -> ClockState:
        """The clock state to sign into a check-in record."""
        return ClockState(
            synced=bool(self._synced()),
            boot_id=self.boot_id,
            monotonic_ms=int(self._monotonic() * 1000),
        )
