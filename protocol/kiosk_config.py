"""Kiosk config message: what the aggregator tells one kiosk on its retained config topic.

A signed map (see :mod:`protocol.signed`) of type ``kiosk-config``, signed by the
ledger key, which every kiosk already trusts for receipts::

    {"v": 1, "type": "kiosk-config", "kiosk": "kiosk-1", "serial": 7,
     "issued_ms": 1764000000000, "revoked": [h'0011223344556677', ...], "sig": h'...'}

``kiosk`` binds the message to one kiosk (a message copied to another kiosk's topic
is refused). ``serial`` grows with every new config: a kiosk applies a message only
if its serial is higher than the one it holds, so an old retained message cannot roll
back a revocation. ``revoked`` lists credential ids (``protocol.credential``, 8 bytes),
sorted and unique, so that the same list always has the same bytes.

``next_seq_floor`` (optional, uint; absent in older messages, which stay valid) is the
lowest sequence number the kiosk may give out next: the aggregator sets it one above
the highest sequence number it holds from that kiosk. SQLite silently drops the WAL
frames after a cut, so a kiosk restarted after a power cut could otherwise give out
numbers the aggregator has already sealed (and would refuse as replayed). The kiosk
raises its counter to at least this value when it applies the config; it never
lowers it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .credential import CREDENTIAL_ID_SIZE
from .encoding import decode
from .errors import MalformedError, RollbackError, WrongTypeError
from .ids import KIOSK_ID_PATTERN
from .schema import Check, array, raw, record, text, uint
from .signed import seal, unseal

KIND = "kiosk-config"
MAX_REVOKED = 50_000
MAX_BYTES = 256 + MAX_REVOKED * (CREDENTIAL_ID_SIZE + 1) + 8

_SCHEMA = {
    "kiosk": text(KIOSK_ID_PATTERN, 63),
    "serial": uint(),
    "issued_ms": uint(),
    "revoked": array(raw(CREDENTIAL_ID_SIZE), MAX_REVOKED),
}
NEXT_SEQ_FLOOR = "next_seq_floor"
_SCHEMA_WITH_FLOOR = {**_SCHEMA, NEXT_SEQ_FLOOR: uint()}


@dataclass(frozen=True)
class KioskConfigMessage:
    """A parsed config message; check it with :meth:`verify` before use."""

    kiosk_id: str
    serial: int
    issued_ms: int
    revoked: frozenset[bytes]
    next_seq_floor: int | None = None
    """Lowest sequence number the kiosk may give out next (None: not said)."""
    wire: bytes = b""
    signed_bytes: bytes = b""
    signature: bytes = b""

    def verify(self, ledger_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless the ledger key signed this message."""
        keys.verify(ledger_key, KIND, self.signed_bytes, self.signature)

    def check_for(self, kiosk_id: str, held_serial: int | None) -> None:
        """Raise unless this message is for ``kiosk_id`` and newer than ``held_serial``."""
        if self.kiosk_id != kiosk_id:
            raise WrongTypeError(f"config is for kiosk {self.kiosk_id!r}")
        if held_serial is not None and self.serial <= held_serial:
            raise RollbackError(
                f"config serial {self.serial} is not newer than the held {held_serial}"
            )


def sign_kiosk_config(
    ledger_key: Ed25519PrivateKey,
    *,
    kiosk_id: str,
    serial: int,
    issued_ms: int,
    revoked: Iterable[bytes],
    next_seq_floor: int | None = None,
) -> bytes:
    """Encode and sign a config message; the revoked ids are sorted and de-duplicated.

    ``next_seq_floor`` is left out of the message when None (as older aggregators did).
    """
    fields: dict[str, object] = {
        "kiosk": kiosk_id,
        "serial": serial,
        "issued_ms": issued_ms,
        "revoked": sorted(set(revoked)),
    }
    if next_seq_floor is not None:
        fields[NEXT_SEQ_FLOOR] = next_seq_floor
    record(_schema_for(fields))(fields, KIND)  # refuse to sign what a verifier would refuse
    return seal(KIND, fields, ledger_key)


def parse_kiosk_config(data: bytes) -> KioskConfigMessage:
    """Parse a config message strictly; the caller checks the signature with ``verify``."""
    sealed = unseal(
        data, KIND, _schema_for(decode(data, max_size=MAX_BYTES, what=KIND)), max_size=MAX_BYTES
    )
    f = sealed.fields
    revoked = f["revoked"]
    if any(a >= b for a, b in zip(revoked, revoked[1:], strict=False)):
        raise MalformedError(f"{KIND}.revoked must be sorted and unique")
    return KioskConfigMessage(
        kiosk_id=f["kiosk"],
        serial=f["serial"],
        issued_ms=f["issued_ms"],
        revoked=frozenset(revoked),
        next_seq_floor=f.get(NEXT_SEQ_FLOOR),
        wire=bytes(data),
        signed_bytes=sealed.signed_bytes,
        signature=sealed.signature,
    )


def _schema_for(value: object) -> dict[str, Check]:
    """The schema with the optional ``next_seq_floor`` when the map holds that key."""
    return _SCHEMA_WITH_FLOOR if isinstance(value, dict) and NEXT_SEQ_FLOOR in value else _SCHEMA
