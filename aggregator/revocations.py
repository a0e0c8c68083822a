"""Publish the revocation list to every enrolled kiosk on its retained config topic.

Each kiosk gets its own ``kiosk-config`` message (protocol.kiosk_config), signed by
the ledger key and naming that kiosk, published retained at QoS 1 to
``safecode/v1/kiosk/<id>/config``, so a kiosk that connects later still gets the
newest list. ``serial`` must grow with every publication (the kiosk ignores older or
equal serials); by default it is the issue time in milliseconds. Retired kiosks get
nothing.

Each message also carries ``next_seq_floor``: one above the highest sequence number
the aggregator holds from that kiosk (``KioskEntry.highest_seq + 1``, at most
``protocol.checkin.SEQ_MAX + 1``), so a kiosk
whose outbox lost its last commits in a power cut does not give out those numbers
again (they would be refused as replayed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import topics
from protocol.checkin import SEQ_MAX
from protocol.kiosk_config import sign_kiosk_config

from .models_base import BaseModel, BlobField
from .tables import KioskEntry


class RevokedCredentialEntry(BaseModel):
    """A visitor credential the issuer revoked (8-byte credential id), and when."""

    credential_id = BlobField(primary_key=True)
    revoked_ms = peewee.BigIntegerField()

    class Meta:
        table_name = "revoked_credential"


def revoke(credential_ids: Iterable[bytes], now_ms: int | None = None) -> int:
    """Add ``credential_ids`` to the revocation list; returns how many were new."""
    when = int(time.time() * 1000) if now_ms is None else now_ms
    with RevokedCredentialEntry._meta.database.atomic():
        before = RevokedCredentialEntry.select().count()
        for credential_id in credential_ids:
            RevokedCredentialEntry.insert(
                credential_id=credential_id, revoked_ms=when
            ).on_conflict_ignore().execute()
        return RevokedCredentialEntry.select().count() - before


def revoked_ids() -> list[bytes]:
    """Every revoked credential id, in order."""
    query = RevokedCredentialEntry.select(RevokedCredentialEntry.credential_id)
    return [
        bytes(row.credential_id) for row in query.order_by(RevokedCredentialEntry.credential_id)
    ]


class RevocationCache:
    """The revocation list as ingest sees it: read again at most every ``refresh_s``."""

    def __init__(self, refresh_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.refresh_s = refresh_s
        self._clock = clock
        self._ids: frozenset[bytes] = frozenset()
        self._read_at: float | None = None

    def __contains__(self, credential_id: bytes) -> bool:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self.refresh_s:
            self._ids = frozenset(revoked_ids())  # one swap: safe for worker threads
            self._read_at = now
        return credential_id in self._ids


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


def next_seq_floors() -> dict[str, int]:
    """Enrolled, not retired kiosk id -> the lowest sequence number it may give out next."""
    query = KioskEntry.select(KioskEntry.kiosk_id, KioskEntry.highest_seq).where(
        KioskEntry.retired == False  # noqa: E712
    )
    # A seq beyond the protocol's bound (stored before it existed) caps the floor, so
    # the config stays signable and every kiosk still gets its own.
    return {
        k.kiosk_id: min(k.highest_seq, SEQ_MAX) + 1 for k in query.order_by(KioskEntry.kiosk_id)
    }


def next_seq_floor(kiosk_id: str) -> dict[str, int]:
    """:func:`next_seq_floors` for one kiosk (``{}`` if it is unknown or retired)."""
    row = KioskEntry.get_or_none(
        (KioskEntry.kiosk_id == kiosk_id) & (KioskEntry.retired == False)  # noqa: E712
    )
    return {} if row is None else {kiosk_id: min(row.highest_seq, SEQ_MAX) + 1}


def publish_revocations(
    publish: Publish,
    ledger_key: Ed25519PrivateKey,
    revoked: Iterable[bytes],
    *,
    serial: int | None = None,
    now_ms: int | None = None,
    kiosk_ids: Iterable[str] | None = None,
    floors: Mapping[str, int] | None = None,
) -> dict[str, bytes]:
    """Sign and publish the config with ``revoked`` credential ids to each kiosk.

    ``kiosk_ids`` defaults to every enrolled kiosk, and ``floors`` (kiosk id -> next
    sequence floor) to :func:`next_seq_floors`; both need the aggregator database
    open. With an explicit ``kiosk_ids`` and no ``floors``, no floor is sent. Returns
    the wire bytes published per kiosk id.
    """
    issued = int(time.time() * 1000) if now_ms is None else now_ms
    serial = issued if serial is None else serial
    if kiosk_ids is None:
        ids = enrolled_kiosk_ids()
        floors = next_seq_floors() if floors is None else floors
    else:
        ids = list(kiosk_ids)
    floors = {} if floors is None else floors
    revoked = sorted(set(revoked))
    sent: dict[str, bytes] = {}
    for kiosk_id in ids:
        wire = sign_kiosk_config(
            ledger_key,
            kiosk_id=kiosk_id,
            serial=serial,
            issued_ms=issued,
            revoked=revoked,
            next_seq_floor=floors.get(kiosk_id),
        )
        publish(topics.topic(kiosk_id, topics.CONFIG), wire)
        sent[kiosk_id] = wire
    return sent
