"""What each kiosk was last sent as its config, so an unchanged one is not signed again.

A kiosk gets its config (revocations and sequence floor) when it comes online. A
kiosk that toggles offline/online thousands of times must not make the aggregator
sign and publish a retained message each time: the content (the revoked ids and the
floor) is remembered per kiosk as a digest with the wire bytes last published, and
a new config is signed only when that content differs. A kiosk that says it holds
no config, or an older one than the last published (its broker lost the retained
message, say), gets the same bytes again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable


def config_digest(revoked: Iterable[bytes], floor: int | None) -> bytes:
    """A digest of a config's content (not of its serial or issue time)."""
    digest = hashlib.sha256(b"safecode-kiosk-config-content\0")
    digest.update(b"floor:%d\0" % floor if floor is not None else b"floor:none\0")
    for credential_id in sorted(set(revoked)):
        digest.update(len(credential_id).to_bytes(2, "big") + credential_id)
    return digest.digest()


class PublishedConfigs:
    """Kiosk id -> (content digest, wire bytes, serial) of the config last published.

    Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, tuple[bytes, bytes, int]] = {}

    def unchanged(self, kiosk_id: str, digest: bytes) -> tuple[bytes, int] | None:
        """(wire, serial) last published to ``kiosk_id`` if its content was ``digest``."""
        with self._lock:
            sent = self._sent.get(kiosk_id)
        return (sent[1], sent[2]) if sent is not None and sent[0] == digest else None

    def remember(self, kiosk_id: str, digest: bytes, wire: bytes, serial: int) -> None:
        """Note that ``wire`` (content ``digest``, ``serial``) was just published."""
        with self._lock:
            self._sent[kiosk_id] = (digest, wire, serial)
