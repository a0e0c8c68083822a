"""The issuer's success counters (``wallet_*``), kept in memory and stored now and then.

Like the API's refusal counts (``aggregator.api.errors.RefusalCounter``): adding a
stored counter row on every request would cost each batch two more upserts and make
every issuing worker queue on the same rows, so a process stores its counts at most
every FLUSH_EVERY_S (after a request, and before /metrics answers). Best effort: what
a killed process had not stored is lost, as /metrics says of such counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping

import peewee

from .. import counters

log = logging.getLogger("aggregator.issuer")

FLUSH_EVERY_S = 2.0


class PendingCounts:
    """Counts added in memory, stored in the counters table by ``flush``."""

    def __init__(self, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.flush_every_s = flush_every_s
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._flushed = time.monotonic()

    def add(self, counts: Mapping[str, int]) -> None:
        """Add ``counts`` (counter name -> how many) to what is pending."""
        with self._lock:
            self._pending.update(counts)

    def flush(self, force: bool = False) -> None:
        """Store what is pending, if FLUSH_EVERY_S has passed (or ``force``)."""
        with self._lock:
            if not self._pending or (
                not force and time.monotonic() - self._flushed < self.flush_every_s
            ):
                return
            pending, self._pending = self._pending, Counter()
            self._flushed = time.monotonic()
        try:
            counters.add({(name, ""): n for name, n in pending.items()})
        except peewee.DatabaseError as exc:
            with self._lock:
                self._pending.update(pending)
            log.error("cannot store the issuer's counters: %s", exc)
