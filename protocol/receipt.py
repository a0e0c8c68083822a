"""The aggregator's signed answers to a kiosk: receipts and refusals.

A *receipt* (signed map of type ``receipt``) says check-ins are sealed in the
ledger: for each, the id, the kiosk's sequence number and the leaf index; with
the block height, tree size and root of the block that sealed them. A kiosk
marks a row delivered only on a receipt that verifies under the ledger key.

A *refusal* (type ``refusal``) says check-ins the kiosk really signed will never
be sealed, and why (e.g. ``replayed``, ``expired``), so the kiosk stops sending
them; it keeps them for its operator. Both arrive on the kiosk's receipt topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .checkin import CHECKIN_ID_SIZE
from .errors import WrongTypeError
from .ids import KIOSK_ID_PATTERN
from .schema import array, raw, record, text, tuple_of, uint
from .signed import seal, unseal

KIND = "receipt"
REFUSAL_KIND = "refusal"
MAX_ENTRIES = 5000
REASON_PATTERN = r"[a-z][a-z_]{0,31}"
MAX_BYTES = 64 + MAX_ENTRIES * 48 + 256

_SCHEMA = {
    "kiosk": text(KIOSK_ID_PATTERN, 63),
    "entries": array(tuple_of(raw(CHECKIN_ID_SIZE), uint(), uint()), MAX_ENTRIES, min_items=1),
    "block": uint(),
    "tree_size": uint(),
    "root": raw(32),
    "issued_ms": uint(),
}
_REFUSAL_SCHEMA = {
    "kiosk": text(KIOSK_ID_PATTERN, 63),
    "entries": array(
        tuple_of(raw(CHECKIN_ID_SIZE), uint(), text(REASON_PATTERN, 32)), 100, min_items=1
    ),
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


@dataclass(frozen=True)
class RefusalEntry:
    """One check-in the aggregator will never seal, and why."""

    checkin_id: bytes
    seq: int
    reason: str


@dataclass(frozen=True)
class Refusal:
    """Check-ins of one kiosk refused for good."""

    kiosk_id: str
    entries: tuple[RefusalEntry, ...]
    issued_ms: int
    signed_bytes: bytes = b""
    signature: bytes = b""

    def verify(self, ledger_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless the ledger key signed this refusal."""
        keys.verify(ledger_key, REFUSAL_KIND, self.signed_bytes, self.signature)


def sign_refusal(
    ledger_key: Ed25519PrivateKey, *, kiosk_id: str, entries: list[RefusalEntry], issued_ms: int
) -> bytes:
    """Encode and sign a refusal; returns its wire bytes."""
    fields = {
        "kiosk": kiosk_id,
        "entries": [[e.checkin_id, e.seq, e.reason] for e in entries],
        "issued_ms": issued_ms,
    }
    record(_REFUSAL_SCHEMA)(fields, REFUSAL_KIND)
    return seal(REFUSAL_KIND, fields, ledger_key)


def parse_refusal(data: bytes) -> Refusal:
    """Parse a refusal strictly; the caller checks the signature with ``verify``."""
    sealed = unseal(data, REFUSAL_KIND, _REFUSAL_SCHEMA, max_size=64 + 100 * 64)
    f = sealed.fields
    return Refusal(
        kiosk_id=f["kiosk"],
        entries=tuple(RefusalEntry(cid, seq, reason) for cid, seq, reason in f["entries"]),
        issued_ms=f["issued_ms"],
        signed_bytes=sealed.signed_bytes,
        signature=sealed.signature,
    )


def parse_answer(data: bytes) -> Receipt | Refusal:
    """Parse whatever the aggregator sent on a kiosk's receipt topic."""
    try:
        return parse_receipt(data)
    except WrongTypeError:
        return parse_refusal(data)
