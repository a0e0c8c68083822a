"""The audit log: audit entries written by the web process, sealed by the sequencer.

``append_audit`` is what tracing calls (issue 12: "no trace without its audit
leaf") before it answers: it checks the entry (protocol/audit_entry.py), writes it
in its own committed transaction and returns the audit id, so the entry is durable
before the caller proceeds. The sequencer then signs it with the ledger key and
seals it, as a leaf of the one tree, into the next block (``pending`` / ``seal_rows``).

Decisions, and why:

* **Its own table**, not rows of the check-in table with a kind. Check-in rows are
  the visits: retention empties their encrypted records and forgets their kiosk and
  times (aggregator/retention.py, aggregator/forget.py), tracing reads them, and the
  vault encrypts them under day keys that are destroyed. An audit entry holds no
  visitor identity and must outlive all of that; a separate table keeps it out of
  every one of those paths by construction (nothing there names this table), keeps
  the check-in table and its hot indexes untouched, and lets the API list entries
  without scanning visits. The cost is that the sequencer, the verifier and the leaf
  reader (aggregator/tiles.py) read leaves from two tables, merged by leaf index.
* **Stored complete but unsigned; signed by the sequencer** with the ledger key when
  it seals the entry. The web process faces the network and holds no ledger key, and
  giving it an audit key of its own would add the system's most exposed signing key
  (see protocol/audit_entry.py). Every field, ``at_ms`` included, is fixed by the web
  process when the row is written; the sequencer signs exactly the stored draft.
* **Order.** Entries are sealed in the order they were appended (row id). A block
  holds the waiting audit entries first, then the waiting check-ins, so an entry is
  in the first block sealed after its row was committed. A waiting entry makes a
  block due at once (``waiting``): entries are rare and tracing wants its leaf soon.

Verification (``check_row``): the signed entry parses strictly, carries one of the
trusted keys' signatures, equals the stored draft and columns, and its leaf hash is
the stored one; aggregator/audit.py does this for every sealed entry, and
auditor/log_client.py does it over the read API (``GET /v1/audit``).
"""

from __future__ import annotations

import base64
import logging
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.audit_entry import (
    AuditEntry,
    audit_leaf_hash,
    encode_draft,
    new_audit_id,
    parse_audit_entry,
    parse_draft,
    sign_audit_entry,
)
from protocol.errors import ProtocolError

from .models_base import BaseModel, BlobField, concrete_database

log = logging.getLogger(__name__)

#: Entries appended and refused in this process (``appended``, ``refused:MalformedError``...).
COUNTS: Counter[str] = Counter()


class AuditLogEntry(BaseModel):
    """One audit entry: its draft from the web process, then its signed form and leaf."""

    id = peewee.BigAutoField()
    audit_id = BlobField(unique=True)
    action = peewee.CharField(max_length=32)
    case_id = BlobField(index=True)
    at_ms = peewee.BigIntegerField()
    #: Canonical CBOR of the checked fields, as the web process wrote them.
    draft = BlobField()
    received_ms = peewee.BigIntegerField()
    # --- set by the sequencer when it seals the entry ---
    #: The signed entry (protocol/audit_entry.py).
    wire = BlobField(null=True)
    leaf_hash = BlobField(null=True)
    leaf_index = peewee.BigIntegerField(null=True, unique=True)
    block_height = peewee.BigIntegerField(null=True, index=True)

    class Meta:
        table_name = "audit_entry"


class AuditLogError(Exception):
    """A stored audit entry does not match its signed form or its leaf."""


def append_audit(
    *,
    action: str,
    actor: str,
    role: str,
    case: bytes,
    reason: str,
    counts: dict[str, int] | None = None,
    at_ms: int | None = None,
    now: Callable[[], float] = time.time,
) -> bytes:
    """Write an audit entry durably (committed before return) and return its audit id.

    ``reason`` is typed by the official: it is put in Unicode normal form C and
    stripped of surrounding white space here; everything else must already be as the
    format wants it (protocol/audit_entry.py). Raises a ProtocolError (counted) for
    fields the format refuses, and a peewee error if the database cannot take it:
    either way nothing is written, and the caller must not go on to show what it
    meant to audit. Refuses to run inside an open transaction (RuntimeError): the
    entry must be committed on its own before the caller proceeds, not rolled back
    with whatever else the caller was doing.
    """
    db = _database()
    if db.in_transaction():
        COUNTS["refused:in_transaction"] += 1
        raise RuntimeError("append_audit must be called outside any database transaction")
    if type(reason) is str:
        reason = unicodedata.normalize("NFC", reason).strip()
    now_ms = int(now() * 1000)
    fields: dict[str, Any] = {
        "id": new_audit_id(),
        "action": action,
        "actor": actor,
        "role": role,
        "at_ms": now_ms if at_ms is None else at_ms,
        "case": case,
        "reason": reason,
        "counts": {} if counts is None else dict(counts),
    }
    try:
        draft = encode_draft(fields)
    except ProtocolError as exc:
        COUNTS[f"refused:{type(exc).__name__}"] += 1
        raise
    with db.atomic():
        AuditLogEntry.create(
            audit_id=fields["id"],
            action=action,
            case_id=case,
            at_ms=fields["at_ms"],
            draft=draft,
            received_ms=now_ms,
        )
    COUNTS["appended"] += 1
    return fields["id"]


def waiting() -> bool:
    """Whether an appended entry waits to be sealed."""
    return (
        AuditLogEntry.select(AuditLogEntry.id)
        .where(AuditLogEntry.leaf_index.is_null())
        .limit(1)
        .exists()
    )


def pending(limit: int) -> list[AuditLogEntry]:
    """Up to ``limit`` waiting entries, in the order they were appended."""
    return list(
        AuditLogEntry.select()
        .where(AuditLogEntry.leaf_index.is_null())
        .order_by(AuditLogEntry.id)
        .limit(limit)
    )


def sign_rows(rows: Sequence[AuditLogEntry], key: Ed25519PrivateKey, first: int) -> list[bytes]:
    """Sign each waiting row's draft, giving it leaf ``first + i``; returns the leaf hashes.

    Only fills in the rows; ``save_sealed`` writes them, in the sealing transaction.
    A draft that no longer parses is a damaged database: AuditLogError, and the
    sequencer seals nothing until it is repaired (an audit entry is never dropped).
    """
    hashes = []
    for offset, row in enumerate(rows):
        try:
            wire = sign_audit_entry(key, parse_draft(bytes(row.draft)))
        except ProtocolError as exc:
            raise AuditLogError(f"stored audit entry {row.id} is damaged: {exc}") from exc
        row.wire = wire
        row.leaf_hash = audit_leaf_hash(bytes(row.audit_id), wire)
        row.leaf_index = first + offset
        hashes.append(row.leaf_hash)
    return hashes


def save_sealed(rows: Sequence[AuditLogEntry], height: int) -> None:
    """Store the signed entries and their leaves as sealed in block ``height``."""
    for row in rows:
        AuditLogEntry.update(
            wire=row.wire,
            leaf_hash=row.leaf_hash,
            leaf_index=row.leaf_index,
            block_height=height,
        ).where(AuditLogEntry.id == row.id).execute()
        row.block_height = height


def block_rows(height: int) -> list[AuditLogEntry]:
    """The entries sealed in block ``height``, in leaf order."""
    return list(
        AuditLogEntry.select()
        .where(AuditLogEntry.block_height == height)
        .order_by(AuditLogEntry.leaf_index)
    )


def sealed(start: int, limit: int) -> list[AuditLogEntry]:
    """Sealed entries with leaf index ``start`` or more, at most ``limit``, in leaf order."""
    return list(
        AuditLogEntry.select()
        .where(AuditLogEntry.leaf_index >= start)
        .order_by(AuditLogEntry.leaf_index)
        .limit(limit)
    )


def for_case(case: bytes) -> list[AuditLogEntry]:
    """Every entry of one case, sealed or not, in the order they were appended."""
    return list(
        AuditLogEntry.select().where(AuditLogEntry.case_id == case).order_by(AuditLogEntry.id)
    )


def by_audit_id(audit_id: bytes) -> AuditLogEntry | None:
    """The entry with this audit id, sealed or not."""
    return AuditLogEntry.get_or_none(AuditLogEntry.audit_id == audit_id)


@dataclass(frozen=True)
class CheckedEntry:
    """A sealed entry that matched its signature, its draft, its columns and its leaf."""

    entry: AuditEntry
    leaf_index: int
    leaf_hash: bytes


def check_row(row: AuditLogEntry, trusted: Iterable[Ed25519PublicKey]) -> CheckedEntry:
    """Check one sealed row; AuditLogError says what is wrong."""
    where = f"audit entry at leaf {row.leaf_index}"
    if row.wire is None or row.leaf_hash is None or row.leaf_index is None:
        raise AuditLogError(f"{where}: sealed but its signed form or leaf is missing")
    try:
        entry = parse_audit_entry(bytes(row.wire))
        entry.verify(list(trusted))
        draft = parse_draft(bytes(row.draft))
    except ProtocolError as exc:
        raise AuditLogError(f"{where} does not verify: {exc}") from exc
    if (
        entry.fields() != draft
        or entry.audit_id != bytes(row.audit_id)
        or entry.action != row.action
        or entry.case != bytes(row.case_id)
        or entry.at_ms != row.at_ms
    ):
        raise AuditLogError(f"{where}: the stored entry differs from the signed one")
    if entry.leaf_hash != bytes(row.leaf_hash):
        raise AuditLogError(f"{where} does not match its leaf")
    return CheckedEntry(entry, row.leaf_index, entry.leaf_hash)


def entry_json(row: AuditLogEntry) -> dict[str, Any]:
    """A sealed entry as the read API lists it: the signed bytes and their fields."""
    entry = parse_audit_entry(bytes(row.wire))
    return {
        "id": entry.audit_id.hex(),
        "leaf_index": row.leaf_index,
        "block": row.block_height,
        "entry": base64.b64encode(entry.wire).decode("ascii"),
        **entry.listed(),
    }


def _database() -> peewee.Database:
    return concrete_database(AuditLogEntry._meta.database)
