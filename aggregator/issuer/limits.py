"""Token buckets per client address, in the memory of one process.

Each address gets ``per_minute`` requests at once and then one more every
``60 / per_minute`` seconds. Buckets that have filled up again are forgotten when the
table grows past ``max_addresses``, so a flood from many addresses cannot grow it
without bound (the oldest full buckets go first; a table of only busy addresses is
cleared, which errs on letting requests through). Several gunicorn workers each keep
their own buckets: the site-wide limits are in the database (``aggregator.issuer.service``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

MAX_ADDRESSES = 100_000


class AddressBuckets:
    """``take(address)``: 0 when a request may go ahead, else seconds to wait."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, address: str) -> int:
        """Take one token for ``address``: 0 if there was one, else whole seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, when = self._buckets.get(address, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - when) * self.rate)
            if tokens >= 1.0:
                self._remember(address, tokens - 1.0, now)
                return 0
            self._remember(address, tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _remember(self, address: str, tokens: float, now: float) -> None:
        if address not in self._buckets and len(self._buckets) >= self._max:
            self._forget_full(now)
        self._buckets[address] = (tokens, now)

    def _forget_full(self, now: float) -> None:
        full = [
            a
            for a, (tokens, when) in self._buckets.items()
            if tokens + (now - when) * self.rate >= self.capacity
        ]
        for address in full:
            del self._buckets[address]
        if len(self._buckets) >= self._max:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)
