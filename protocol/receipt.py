"""Receipt: the aggregator's signed word that check-ins are sealed in the ledger.

A signed map of type ``receipt`` sent to one kiosk. For each check-in it names
the id, the kiosk's sequence number and the leaf index; with the block height,
tree size and root of the block that sealed them. A kiosk marks a row delivered
only on a receipt that verifies under the ledger key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .checkin import CHECKIN_ID_SIZE
from .ids import KIOSK_ID_PATTERN
from .schema import array, raw, record, text, tuple_of, uint
from .signed import seal, unseal

KIND = "receipt"
MAX_ENTRIES = 5000
MAX_BYTES = 64 + MAX_ENTRIES * 48 + 256

_SCHEMA = {
    "kiosk": text(KIOSK_ID_PATTERN, 63),
    "entries": array(tuple_of(raw(CHECKIN_ID_SIZE), uint(), uint()), MAX_ENTRIES, min_items=1),
    "block": uint(),
    "tree_size": uint(),
    "root": raw(32),
    "issued_ms": uint(),
}


@dataclass(frozen=True)
class ReceiptEntry:
    """One sealed check-in: its id, the kiosk's sequence number and its leaf index."""

    checkin_id: bytes
    seq: int
    leaf_index: int


@dataclass(frozen=True)
class Receipt:
    """Check-ins of one kiosk sealed into one block."""

    kiosk_id: str
    entries: tuple[ReceiptEntry, ...]
    block: int
    tree_size: int
    root: bytes
    issued_ms: int
    signed_bytes: bytes = b""
    signature: bytes = b""

    def verify(self, ledger_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless the ledger key signed this receipt."""
        keys.verify(ledger_key, KIND, self.signed_bytes, self.signature)


def sign_receipt(
    ledger_key: Ed25519PrivateKey,
    *,
    kiosk_id: str,
    entries: list[ReceiptEntry],
    block: int,
    tree_size: int,
    root: bytes,
    issued_ms: int,
) -> bytes:
    """Encode and sign a receipt; returns its wire bytes."""
    fields = {
        "kiosk": kiosk_id,
        "entries": [[e.checkin_id, e.seq, e.leaf_index] for e in entries],
        "block": block,
        "tree_size": tree_size,
        "root": root,
        "issued_ms": issued_ms,
    }
    record(_SCHEMA)(fields, KIND)  # refuse to sign what a verifier would refuse
    return seal(KIND, fields, ledger_key)


def parse_receipt(data: bytes) -> Receipt:
    """Parse a receipt strictly; the caller checks the signature with ``verify``."""
    sealed = unseal(data, KIND, _SCHEMA, max_size=MAX_BYTES)
    f = sealed.fields
    entries = tuple(ReceiptEntry(cid, seq, leaf) for cid, seq, leaf in f["entries"])
    return Receipt(
        kiosk_id=f["kiosk"],
        entries=entries,
        block=f["block"],
        tree_size=f["tree_size"],
        root=f["root"],
        issued_ms=f["issued_ms"],
        signed_bytes=sealed.signed_bytes,
        signature=sealed.signature,
    )
