"""A quota per key per time window: the one mechanism behind rate-limited log lines.

Kiosk and aggregator both face floods of hostile input; each line about it costs
disk. ``take(key)`` says whether one more line about ``key`` fits its window and,
when a window has just ended, how many lines that window held back (to be
reported in one summary line).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WindowedQuota:
    """At most ``limit`` takes per key in each ``interval_s`` (the window starts at the first)."""

    def __init__(
        self, limit: int, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, list[float | int]] = {}  # key -> [start, taken, held back]

    def take(self, key: str) -> tuple[bool, int]:
        """(allowed, held back in ``key``'s window that just ended, else 0)."""
        now = self._clock()
        ended = 0
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.interval_s:
                ended = int(window[2]) if window is not None else 0
                window = self._windows[key] = [now, 0, 0]
            if window[1] >= self.limit:
                window[2] += 1
                return False, ended
            window[1] += 1
            return True, ended

    def ended(self) -> list[tuple[str, int]]:
        """Forget every window that has ended; (key, held back) for each."""
        now = self._clock()
        with self._lock:
            done = [k for k, w in self._windows.items() if now - w[0] >= self.interval_s]
            return [(key, int(self._windows.pop(key)[2])) for key in done]
