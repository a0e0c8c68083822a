"""Back-off for resending a config to a kiosk that stays online and still holds none.

A kiosk says in each heartbeat which config it holds. One that came online holding
none is sent its config at once; while the config is on its way (a busy broker, a
reconnect storm) its next heartbeats still say "none", and resending on each of them
multiplied the storm (112,513 resends for 19,500 kiosks). Here a kiosk that stays
online holding none gets the config again only after ``first_s``, then after twice
that, up to ``max_s``; the back-off ends once a heartbeat names a config it holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Seconds before the first resend to a kiosk that stays online holding no config.
FIRST_S = 30.0
#: The longest wait between two resends.
MAX_S = 600.0


class ConfigPacer:
    """When a kiosk holding no config may be sent it again. Thread-safe."""

    def __init__(
        self,
        first_s: float = FIRST_S,
        max_s: float = MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, tuple[float, float]] = {}  # kiosk -> (not before, window)

    def sent(self, kiosk_id: str) -> None:
        """A config just went to ``kiosk_id`` (it came online): resends wait ``first_s``."""
        with self._lock:
            self._next[kiosk_id] = (self._clock() + self.first_s, self.first_s)

    def allow(self, kiosk_id: str) -> bool:
        """True (and the next window doubled) if ``kiosk_id`` may be sent its config again."""
        now = self._clock()
        with self._lock:
            entry = self._next.get(kiosk_id)
            if entry is not None and now < entry[0]:
                return False
            window = self.first_s if entry is None else min(entry[1] * 2, self.max_s)
            self._next[kiosk_id] = (now + window, window)
            return True

    def settled(self, kiosk_id: str) -> None:
        """``kiosk_id`` holds a config now: no back-off any more."""
        with self._lock:
            self._next.pop(kiosk_id, None)

    def waiting(self) -> int:
        """Kiosks in back-off (sent a config they have not yet said they hold)."""
        with self._lock:
            return len(self._next)
