"""Publish the revocation list to every enrolled kiosk on its retained config topic.

Each kiosk gets its own ``kiosk-config`` message (protocol.kiosk_config), signed by
the ledger key and naming that kiosk, published retained at QoS 1 to
``safecode/v1/kiosk/<id>/config``, so a kiosk that connects later still gets the
newest list. ``serial`` must grow with every publication (the kiosk ignores older or
equal serials); by default it is the issue time in milliseconds. Retired kiosks get
nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import topics
from protocol.kiosk_config import sign_kiosk_config

from .db import KioskEntry

Publish = Callable[[str, bytes], object]
"""Publishes ``payload`` to ``topic`` retained at QoS 1."""


def paho_publisher(client: object) -> Publish:
    """A :data:`Publish` for a connected paho client (retained, QoS 1)."""

    def publish(topic: str, payload: bytes) -> object:
        return client.publish(topic, payload, qos=1, retain=True)  # type: ignore[attr-defined]

    return publish


def enrolled_kiosk_ids() -> list[str]:
    """Ids of enrolled, not retired kiosks, in order."""
    query = KioskEntry.select(KioskEntry.kiosk_id).where(KioskEntry.retired == False)  # noqa: E712
    return [k.kiosk_id for k in query.order_by(KioskEntry.kiosk_id)]


def publish_revocations(
    publish: Publish,
    ledger_key: Ed25519PrivateKey,
    revoked: Iterable[bytes],
    *,
    serial: int | None = None,
    now_ms: int | None = None,
    kiosk_ids: Iterable[str] | None = None,
) -> dict[str, bytes]:
    """Sign and publish the config with ``revoked`` credential ids to each kiosk.

    ``kiosk_ids`` defaults to every enrolled kiosk (needs the aggregator database
    open). Returns the wire bytes published per kiosk id.
    """
    issued = int(time.time() * 1000) if now_ms is None else now_ms
    serial = issued if serial is None else serial
    ids = enrolled_kiosk_ids() if kiosk_ids is None else list(kiosk_ids)
    revoked = sorted(set(revoked))
    sent: dict[str, bytes] = {}
    for kiosk_id in ids:
        wire = sign_kiosk_config(
            ledger_key, kiosk_id=kiosk_id, serial=serial, issued_ms=issued, revoked=revoked
        )
        publish(topics.topic(kiosk_id, topics.CONFIG), wire)
        sent[kiosk_id] = wire
    return sent
