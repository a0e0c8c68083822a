"""Ledger block header and leaf format.

A block seals the leaves ``first_leaf .. first_leaf + leaf_count - 1`` of the
one log-wide RFC 9162 tree. Its header is a signed map of type ``block`` that
links to the previous header by hash; the genesis block links to 32 zero bytes.
A leaf is the canonical CBOR map ``{"v": 1, "id": checkin_id, "commit": digest}``
where ``digest`` is SHA-256 of the signed check-in record: the ledger commits to
a visit without holding it.

Leaf kinds. Since issue 12 the tree holds a second kind of leaf, the audit entry
(protocol/audit_entry.py): ``{"v": 1, "kind": "audit", "id": audit_id, "commit":
SHA-256 of the signed entry}``. The check-in leaf keeps its bytes exactly (no
``kind`` key: a leaf without one is a check-in), so every ledger sealed before
stays valid and every stored leaf hash is unchanged; only the new kind carries a
marker. The two kinds can never be confused: their maps have different key sets,
hence different encodings and different leaf hashes. ``v`` stays 1: nothing about
the existing format changed, and a parser that knows only check-in leaves refuses
an audit leaf (unknown field ``kind``) rather than misreading it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .checkin import CHECKIN_ID_SIZE
from .encoding import decode, encode
from .errors import MalformedError, UnsupportedVersionError
from .schema import one_of, raw, record, text, uint
from .signed import seal, unseal

KIND = "block"
MAX_BYTES = 512
GENESIS_PREV = bytes(32)
ORIGIN_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}"
LEAF_VERSION = 1
_LEAF = record({"v": one_of(LEAF_VERSION), "id": raw(CHECKIN_ID_SIZE), "commit": raw(32)})
#: Leaf kinds: a check-in leaf has no ``kind`` key; every other kind names itself.
CHECKIN_LEAF = "checkin"
AUDIT_LEAF = "audit"
#: Audit ids are the size of check-in ids (16 random bytes).
AUDIT_ID_SIZE = 16
_AUDIT_LEAF = record(
    {
        "v": one_of(LEAF_VERSION),
        "kind": one_of(AUDIT_LEAF),
        "id": raw(AUDIT_ID_SIZE),
        "commit": raw(32),
    }
)

_SCHEMA = {
    "origin": text(ORIGIN_PATTERN, 128),
    "height": uint(),
    "prev": raw(32),
    "first_leaf": uint(),
    "leaf_count": uint(),
    "tree_size": uint(),
    "root": raw(32),
    "sealed_ms": uint(),
}


@dataclass(frozen=True)
class BlockHeader:
    """A sealed block: its place in the chain and the tree it commits to."""

    origin: str
    height: int
    prev: bytes
    first_leaf: int
    leaf_count: int
    tree_size: int
    root: bytes
    sealed_ms: int
    wire: bytes = b""
    signed_bytes: bytes = b""
    signature: bytes = b""

    @property
    def block_hash(self) -> bytes:
        """SHA-256 of the signed header: what the next block links to."""
        return hashlib.sha256(self.wire).digest()

    def verify(self, ledger_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless the ledger key signed this header."""
        keys.verify(ledger_key, KIND, self.signed_bytes, self.signature)


def sign_block(ledger_key: Ed25519PrivateKey, **fields: object) -> bytes:
    """Encode and sign a block header; returns its wire bytes."""
    record(_SCHEMA)(fields, KIND)
    if fields["first_leaf"] + fields["leaf_count"] != fields["tree_size"]:  # type: ignore[operator]
        raise MalformedError("block: first_leaf + leaf_count must equal tree_size")
    return seal(KIND, fields, ledger_key)


def parse_block(data: bytes) -> BlockHeader:
    """Parse a block header strictly; the caller checks the signature with ``verify``."""
    sealed = unseal(data, KIND, _SCHEMA, max_size=MAX_BYTES)
    f = sealed.fields
    if f["first_leaf"] + f["leaf_count"] != f["tree_size"]:
        raise MalformedError("block: first_leaf + leaf_count must equal tree_size")
    return BlockHeader(
        **f, wire=bytes(data), signed_bytes=sealed.signed_bytes, signature=sealed.signature
    )


def leaf_data(checkin_id: bytes, commitment: bytes) -> bytes:
    """The bytes of the ledger leaf for one check-in."""
    value = {"v": LEAF_VERSION, "id": checkin_id, "commit": commitment}
    _LEAF(value, "leaf")
    return encode(value)


def parse_leaf(data: bytes) -> tuple[bytes, bytes]:
    """The check-in id and commitment inside a check-in leaf (any other kind is refused)."""
    value = decode(data, max_size=128, what="leaf")
    if type(value) is dict and type(value.get("v")) is int and value["v"] != LEAF_VERSION:
        raise UnsupportedVersionError(f"leaf version {value['v']} is not supported")
    value = _LEAF(value, "leaf")
    return value["id"], value["commit"]


def audit_leaf_data(audit_id: bytes, commitment: bytes) -> bytes:
    """The bytes of the ledger leaf for one audit entry (``commitment``: SHA-256 of it)."""
    value = {"v": LEAF_VERSION, "kind": AUDIT_LEAF, "id": audit_id, "commit": commitment}
    _AUDIT_LEAF(value, "leaf")
    return encode(value)


@dataclass(frozen=True)
class Leaf:
    """A parsed leaf of either kind."""

    kind: str
    id: bytes
    commit: bytes


def parse_any_leaf(data: bytes) -> Leaf:
    """A leaf of any kind: ``checkin`` (no ``kind`` key) or ``audit``; strict."""
    value = decode(data, max_size=128, what="leaf")
    if type(value) is dict and type(value.get("v")) is int and value["v"] != LEAF_VERSION:
        raise UnsupportedVersionError(f"leaf version {value['v']} is not supported")
    if type(value) is dict and "kind" in value:
        value = _AUDIT_LEAF(value, "leaf")
        return Leaf(AUDIT_LEAF, value["id"], value["commit"])
    value = _LEAF(value, "leaf")
    return Leaf(CHECKIN_LEAF, value["id"], value["commit"])
