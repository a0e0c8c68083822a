"""Per-kiosk rate limit of heartbeats: at most one processed per kiosk per interval.

A kiosk sends a heartbeat every ``heartbeat_s`` (15 s by default); a storm of them
(thousands a second from one broker account) must not cost a database write each
and delay every other kiosk's check-ins. The gate lets a kiosk's heartbeat through
at once when its last one was processed at least ``interval_s`` ago. Otherwise it is
held back, and only the newest held one is kept ("latest wins"): it is released
when the kiosk's interval has passed, so the fleet view still ends on the kiosk's
last word. Every heartbeat a newer one replaces is counted as coalesced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

Held = TypeVar("Held")


class HeartbeatGate(Generic[Held]):
    """Latest-wins coalescing of heartbeats per kiosk (thread-safe)."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # kiosk id -> when its last heartbeat went through
        self._held: dict[str, Held] = {}  # kiosk id -> its newest heartbeat held back
        self._pruned_at = clock()
        self.coalesced = 0

    def admit(self, kiosk_id: str, message: Held) -> bool:
        """True: process ``message`` now. False: held (replacing an older held one)."""
        now = self._clock()
        with self._lock:
            last = self._last.get(kiosk_id)
            if kiosk_id not in self._held and (last is None or now - last >= self.interval_s):
                self._last[kiosk_id] = now
                return True
            if kiosk_id in self._held:
                self.coalesced += 1
            self._held[kiosk_id] = message
            return False

    def due(self) -> list[Held]:
        """The held heartbeats whose kiosk's interval has passed (now counted as processed)."""
        now = self._clock()
        with self._lock:
            ready = [k for k in self._held if now - self._last.get(k, now) >= self.interval_s]
            for kiosk_id in ready:
                self._last[kiosk_id] = now
            released = [self._held.pop(kiosk_id) for kiosk_id in ready]
            self._prune(now)
        return released

    def flush(self) -> list[Held]:
        """Every held heartbeat, interval or not (at a clean stop: a kiosk's last word)."""
        now = self._clock()
        with self._lock:
            for kiosk_id in self._held:
                self._last[kiosk_id] = now
            released = list(self._held.values())
            self._held.clear()
        return released

    def pending(self) -> int:
        """How many heartbeats are held back now (at most one per kiosk)."""
        with self._lock:
            return len(self._held)

    def _prune(self, now: float) -> None:
        """Forget kiosks quiet for a whole interval (keeps memory to the active ones)."""
        if now - self._pruned_at < self.interval_s:
            return
        self._pruned_at = now
        quiet = [
            k for k, t in self._last.items() if now - t >= self.interval_s and k not in self._held
        ]
        for kiosk_id in quiet:
            del self._last[kiosk_id]
