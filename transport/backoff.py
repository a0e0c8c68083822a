"""Jittered reconnect back-off: a fleet that lost its broker does not come back in step.

paho-mqtt's own reconnect delay doubles from ``reconnect_min_s`` to ``reconnect_max_s``
but is the same on every device, so when a broker restarts every kiosk of a region
reconnects in the same second, fails together, and retries together again. Before
each of paho's retries the kiosk's link waits an extra random time: uniform in
``[0, window]``, where the window starts at ``reconnect_jitter_s`` and doubles with
each failed attempt up to ``reconnect_max_s`` ("full jitter"). A successful connect
starts the window over. ``reconnect_jitter_s = 0`` turns the extra wait off.

The wait runs in paho's network thread (from the disconnect and connect-failure
callbacks, before paho's own delay), so it delays only reconnecting; :meth:`cancel`
ends it at once when the link is stopped.
"""

from __future__ import annotations

import random
import threading


class ReconnectJitter:
    """The extra random wait before each reconnect attempt."""

    def __init__(self, window_s: float, cap_s: float, *, rng: random.Random | None = None) -> None:
        if window_s < 0 or cap_s < 0:
            raise ValueError("back-off windows are not negative")
        self.window_s = float(window_s)
        self.cap_s = float(max(cap_s, window_s))
        self.attempts = 0
        self._rng = rng if rng is not None else random.SystemRandom()
        self._cancelled = threading.Event()

    def reset(self) -> None:
        """Connected: the next loss starts from the first window again."""
        self.attempts = 0

    def window(self) -> float:
        """The current attempt's window: doubled per failed attempt, capped."""
        if self.window_s == 0:
            return 0.0
        return min(self.cap_s, self.window_s * 2 ** min(self.attempts, 32))

    def next_delay(self) -> float:
        """A random delay in the current window; counts an attempt."""
        delay = self._rng.uniform(0, self.window())
        self.attempts += 1
        return delay

    def wait(self) -> float:
        """Sleep a random delay (unless cancelled); the delay drawn."""
        delay = self.next_delay()
        if delay > 0:
            self._cancelled.wait(delay)
        return delay

    def cancel(self) -> None:
        """End any wait now and every later one (the link is stopping)."""
        self._cancelled.set()
