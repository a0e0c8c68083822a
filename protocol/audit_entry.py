"""Audit entries: who looked at what, signed and sealed into the ledger's own tree.

Every step of a trace (issue 12: a case opened or taken up again, the batch lists of
a case's owners handed out, an exposure list produced, a batch of contacts decrypted,
an export, a notice, a failed decryption) is written down as an audit entry and
becomes a leaf of the same RFC 9162 tree as the check-ins, so it is sealed into a
block, covered by the checkpoint and cosigned by the witnesses like any other leaf.
An entry names the official, never a visitor: who (``actor``, the account name), in
which ``role``, when (``at_ms``), which ``case`` (16-byte case id), the stated
``reason`` and a few action-specific ``counts`` (visits listed, contacts decrypted,
rows exported...).

Format: a signed map (protocol/signed.py) of type ``audit-entry``::

    {"v": 1, "type": "audit-entry", "id": 16 bytes, "action": "case-opened" | ...,
     "actor": text, "role": text, "at_ms": uint, "case": 16 bytes, "reason": text,
     "counts": {name: uint, ...}, "sig": Ed25519}

``actor`` and ``reason`` are free text typed by people: they must be NFC, hold no
control, format (bidi overrides, zero-width joiners), surrogate or line/paragraph
separator characters, and are bounded; ``role`` and count names are short ASCII
labels. The leaf is ``block.audit_leaf_data(id, SHA-256(signed entry))``.

Who signs. The entry is signed by the aggregator's **ledger key**, held by the
sequencer, when it seals the entry (aggregator/audit_log.py keeps the complete but
unsigned entry durable until then). The alternative, an audit key held by the web
process, was rejected: the web process faces the network, so its key would be the
easiest key of the system to steal, and a stolen key lets a thief sign entries that
never happened; it would also give auditors and witnesses a second key to learn and
rotate. The ledger signature says what the ledger can honestly say, "this entry was
recorded, in this order, in this ledger"; what the web process attests (who was
logged in) it attests by writing the row, which it could do with its own key just
the same. ``verify`` nevertheless takes any of several keys, so an audit key can be
added later without a format change.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys, merkle
from .block import AUDIT_ID_SIZE, audit_leaf_data
from .encoding import decode, encode
from .errors import MalformedError, SignatureError
from .schema import TIME_MS_MAX, Check, one_of, raw, record, text, uint
from .signed import seal, unseal

KIND = "audit-entry"
#: What an entry records (issue 12, "Audit in the ledger").
ACTIONS = (
    "case-opened",
    "case-resumed",
    "batch-lists",
    "exposure-list",
    "contacts-decrypted",
    "export",
    "notice",
    "decrypt-failed",
)
CASE_ID_SIZE = 16
MAX_ACTOR = 64
MAX_REASON = 500
ROLE_PATTERN = r"[a-z][a-z0-9-]{0,31}"
COUNT_NAME_PATTERN = r"[a-z][a-z0-9_]{0,31}"
MAX_COUNTS = 8
#: Counts stay exact in a double (I-JSON): the read API lists them as JSON numbers.
COUNT_MAX = 2**53
#: A signed entry is far smaller: 500 characters of reason are at most 2000 bytes.
MAX_BYTES = 4096
#: Unicode categories refused in free text: controls, format characters (bidi
#: overrides, zero-width joiners), surrogates, private use, unassigned, and line and
#: paragraph separators. What is left prints as one plain line in any language.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_COUNT_NAME = re.compile(COUNT_NAME_PATTERN)


def plain_text(max_length: int, *, min_length: int = 1) -> Check:
    """Free text of ``min_length`` to ``max_length`` characters: NFC, one plain line.

    No surrounding white space either, so that what is shown is what was signed.
    """

    def check(value: Any, name: str) -> str:
        if type(value) is not str:
            raise MalformedError(f"{name} must be a text string")
        if not min_length <= len(value) <= max_length:
            raise MalformedError(f"{name} must be {min_length} to {max_length} characters")
        if not unicodedata.is_normalized("NFC", value):
            raise MalformedError(f"{name} must be in Unicode normal form C")
        for char in value:
            if unicodedata.category(char) in _REFUSED_CATEGORIES:
                raise MalformedError(f"{name} holds a control character U+{ord(char):04X}")
        if value != value.strip():
            raise MalformedError(f"{name} must not begin or end with white space")
        return value

    return check


def counts_map() -> Check:
    """A small map of count names (lowercase labels) to unsigned integers."""
    count = uint(COUNT_MAX)

    def check(value: Any, name: str) -> dict[str, int]:
        if type(value) is not dict:
            raise MalformedError(f"{name} must be a map")
        if len(value) > MAX_COUNTS:
            raise MalformedError(f"{name} holds more than {MAX_COUNTS} counts")
        out: dict[str, int] = {}
        for key, number in value.items():
            if type(key) is not str or not _COUNT_NAME.fullmatch(key):
                raise MalformedError(f"{name} has a bad count name (pattern {COUNT_NAME_PATTERN})")
            out[key] = count(number, f"{name}.{key}")
        return out

    return check


_SCHEMA: dict[str, Check] = {
    "id": raw(AUDIT_ID_SIZE),
    "action": one_of(*ACTIONS),
    "actor": plain_text(MAX_ACTOR),
    "role": text(ROLE_PATTERN, 32),
    "at_ms": uint(TIME_MS_MAX),
    "case": raw(CASE_ID_SIZE),
    "reason": plain_text(MAX_REASON),
    "counts": counts_map(),
}
_FIELDS = record(_SCHEMA)


def audit_leaf_hash(audit_id: bytes, wire: bytes) -> bytes:
    """The RFC 9162 leaf hash of the signed entry ``wire`` with id ``audit_id``."""
    return merkle.leaf_hash(audit_leaf_data(audit_id, hashlib.sha256(wire).digest()))


@dataclass(frozen=True)
class AuditEntry:
    """A parsed audit entry; ``verify`` checks its signature."""

    audit_id: bytes
    action: str
    actor: str
    role: str
    at_ms: int
    case: bytes
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    wire: bytes = b""
    signed_bytes: bytes = b""
    signature: bytes = b""

    @property
    def commitment(self) -> bytes:
        """SHA-256 of the signed entry: what its leaf commits to."""
        return hashlib.sha256(self.wire).digest()

    @property
    def leaf(self) -> bytes:
        """The bytes of this entry's ledger leaf."""
        return audit_leaf_data(self.audit_id, self.commitment)

    @property
    def leaf_hash(self) -> bytes:
        """The RFC 9162 hash of this entry's leaf."""
        return audit_leaf_hash(self.audit_id, self.wire)

    def fields(self) -> dict[str, Any]:
        """The signed fields, as given to :func:`sign_audit_entry`."""
        return {
            "id": self.audit_id,
            "action": self.action,
            "actor": self.actor,
            "role": self.role,
            "at_ms": self.at_ms,
            "case": self.case,
            "reason": self.reason,
            "counts": dict(self.counts),
        }

    def listed(self) -> dict[str, Any]:
        """The signed fields as the read API lists them beside the entry (JSON: hex ids)."""
        return {**self.fields(), "id": self.audit_id.hex(), "case": self.case.hex()}

    def verify(self, public_keys: Ed25519PublicKey | Iterable[Ed25519PublicKey]) -> None:
        """Raise SignatureError unless one of ``public_keys`` (ledger key, audit keys) signed it."""
        if isinstance(public_keys, Ed25519PublicKey):
            candidates = [public_keys]
        else:
            candidates = list(public_keys)
        for key in candidates:
            try:
                keys.verify(key, KIND, self.signed_bytes, self.signature)
                return
            except SignatureError:
                continue
        raise SignatureError(f"{KIND}: not signed by the ledger key or a known audit key")


def new_audit_id() -> bytes:
    """A fresh random audit id."""
    return secrets.token_bytes(AUDIT_ID_SIZE)


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's fields (without ``v``, ``type``, ``sig``) checked strictly; or raise."""
    return _FIELDS(dict(fields), KIND)


def encode_draft(fields: Mapping[str, Any]) -> bytes:
    """Canonical CBOR of the checked, not yet signed fields (what the web process stores)."""
    return encode(check_fields(fields))


def parse_draft(data: bytes) -> dict[str, Any]:
    """The fields of a stored draft, checked as strictly as a signed entry."""
    return check_fields(_decode_map(data, "audit-entry draft"))


def _decode_map(data: bytes, what: str) -> dict[str, Any]:
    value = decode(data, max_size=MAX_BYTES, what=what)
    if type(value) is not dict:
        raise MalformedError(f"{what}: expected a map")
    return value


def sign_audit_entry(key: Ed25519PrivateKey, fields: Mapping[str, Any]) -> bytes:
    """Check and sign an entry; returns its wire bytes."""
    wire = seal(KIND, check_fields(fields), key)
    if len(wire) > MAX_BYTES:  # cannot happen within the field bounds; kept as a guard
        raise MalformedError(f"{KIND}: {len(wire)} bytes is over {MAX_BYTES}")
    return wire


def parse_audit_entry(data: bytes) -> AuditEntry:
    """Parse a signed entry strictly; the caller checks the signature with ``verify``."""
    sealed = unseal(data, KIND, _SCHEMA, max_size=MAX_BYTES)
    f = sealed.fields
    return AuditEntry(
        audit_id=f["id"],
        action=f["action"],
        actor=f["actor"],
        role=f["role"],
        at_ms=f["at_ms"],
        case=f["case"],
        reason=f["reason"],
        counts=f["counts"],
        wire=bytes(data),
        signed_bytes=sealed.signed_bytes,
        signature=sealed.signature,
    )
