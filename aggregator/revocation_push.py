"""Revocations reach kiosks that stay online, not only those that come online.

A kiosk gets its config when it comes online (aggregator/service.py). A credential
revoked later (a wallet that leaves, a lost card) would reach a kiosk that stays online
only at its next reconnect; ingest already refuses it within seconds, but the door
would still show green. So each heartbeat of an online kiosk asks this watch whether
the revocation list moved since that kiosk's last config: the list is read at most
every ``refresh_s``, and one kiosk gets a new config at most every ``gap_s``, so a
steady stream of revocations costs one signature per online kiosk per ``gap_s``.

A kiosk this process has not sent a config yet is taken as holding the current list
(it got one when it came online, from this process or the one before): the first
heartbeat only records that, so a restart does not re-sign every kiosk's config.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable

from .revocations import revoked_ids

#: Seconds between two reads of the revocation list.
REFRESH_S = 5.0
#: Seconds between two revocation pushes to one kiosk.
GAP_S = 30.0


def revoked_digest(revoked: Iterable[bytes]) -> bytes:
    """A digest of a revocation list's content."""
    digest = hashlib.sha256(b"safecode-revoked\0")
    for credential_id in sorted(set(revoked)):
        digest.update(len(credential_id).to_bytes(2, "big") + credential_id)
    return digest.digest()


class RevocationWatch:
    """Which online kiosks hold an older revocation list than the current one. Thread-safe."""

    def __init__(
        self,
        refresh_s: float = REFRESH_S,
        gap_s: float = GAP_S,
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[], list[bytes]] = revoked_ids,
    ) -> None:
        self.refresh_s = refresh_s
        self.gap_s = gap_s
        self._clock = clock
        self._read = read
        self._lock = threading.Lock()
        self._current: bytes | None = None
        self._read_at = 0.0
        self._sent: dict[str, tuple[bytes, float]] = {}

    def _current_digest(self, now: float) -> bytes:
        if self._current is None or now - self._read_at >= self.refresh_s:
            self._current = revoked_digest(self._read())
            self._read_at = now
        return self._current

    def due(self, kiosk_id: str) -> bool:
        """True if ``kiosk_id`` should get a new config now (its revocation list moved)."""
        now = self._clock()
        with self._lock:
            current = self._current_digest(now)
            sent = self._sent.get(kiosk_id)
            if sent is None:  # first heartbeat this process sees: it holds the current list
                self._sent[kiosk_id] = (current, now)
                return False
            return sent[0] != current and now - sent[1] >= self.gap_s

    def sent(self, kiosk_id: str, revoked: Iterable[bytes]) -> None:
        """Note that ``kiosk_id`` was just sent (or already holds) a config with ``revoked``."""
        with self._lock:
            self._sent[kiosk_id] = (revoked_digest(revoked), self._clock())
