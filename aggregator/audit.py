"""Re-check the whole ledger from storage: signatures, links, leaves, roots, checkpoints.

A block's leaves come from two tables, merged by leaf index: check-ins (each leaf
recomputed from its id and commitment) and audit entries (aggregator/audit_log.py:
each signed entry parsed, its signature checked against the ledger key or a given
audit key, compared with the stored draft, and its leaf recomputed).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.block import BlockHeader, leaf_data
from protocol.chain import ChainError, ChainWalk
from protocol.checkin import parse_checkin
from protocol.encoding import decode
from protocol.errors import ProtocolError
from protocol.merkle import MerkleAccumulator, leaf_hash
from protocol.note import NoteVerifier

from . import audit_log
from .db import BlockEntry, CheckinEntry
from .tiles import StorageFault, TileChecker
from .vault import Vault, VaultError, destroyed_days


class LedgerError(Exception):
    """The ledger does not verify; the message says where."""


@dataclass(frozen=True)
class LedgerSummary:
    """What a successful check covered."""

    blocks: int
    tree_size: int
    root: bytes
    audit_entries: int = 0


def verify_ledger(
    ledger_key: Ed25519PublicKey,
    origin: str,
    *,
    progress: Callable[[int], None] | None = None,
    vault: Vault | None = None,
    audit_keys: Sequence[Ed25519PublicKey] = (),
) -> LedgerSummary:
    """Walk every block in order and recompute everything it commits to.

    Leaves are recomputed from each check-in's id and commitment, so days whose data
    keys were destroyed still verify. With ``vault``, every record that can still be
    read is decrypted and checked against its commitment too. Audit entries must be
    signed by ``ledger_key`` or one of ``audit_keys``.
    """
    gone = destroyed_days() if vault is not None else set()
    trusted = [ledger_key, *audit_keys]
    audited = 0
    walk = ChainWalk(NoteVerifier.from_public_key(origin, ledger_key))
    tiles = TileChecker()
    for entry in BlockEntry.select().order_by(BlockEntry.height):
        where = f"block {entry.height}"
        try:
            header = walk.open_block(bytes(entry.wire), entry.height, label=entry.height)
            for row in _leaf_rows(header.height):
                if row.leaf_index != walk.tree.size:
                    raise LedgerError(f"{where}: leaf {walk.tree.size} is missing")
                if isinstance(row, audit_log.AuditLogEntry):
                    leaf = _check_audit_row(row, trusted, where)
                    audited += 1
                else:
                    leaf = _recompute_leaf(row, where)
                    if vault is not None and row.day not in gone:
                        _check_plaintext(row, vault, where)
                walk.tree.append(leaf)
                _append_tile(tiles, leaf, where)
            walk.close_block(header, entry.checkpoint.encode("utf-8"))
        except ChainError as exc:
            raise LedgerError(str(exc)) from exc
        _check_stored_columns(entry, header, walk.tree, where)
        if progress:
            progress(walk.height)
    _check_no_stray_audit(walk.tree.size)
    return LedgerSummary(walk.height, walk.tree.size, walk.tree.root(), audited)


def _leaf_rows(height: int) -> Iterator[CheckinEntry | audit_log.AuditLogEntry]:
    """The rows of both leaf kinds sealed in block ``height``, in leaf order."""
    yield from heapq.merge(
        _block_rows(height), audit_log.block_rows(height), key=lambda row: row.leaf_index
    )


def _check_audit_row(
    row: audit_log.AuditLogEntry, trusted: list[Ed25519PublicKey], where: str
) -> bytes:
    try:
        return audit_log.check_row(row, trusted).leaf_hash
    except audit_log.AuditLogError as exc:
        raise LedgerError(f"{where}: {exc}") from exc


def _check_no_stray_audit(tree_size: int) -> None:
    """No audit entry claims a leaf or block the walk did not cover."""
    stray = (
        audit_log.AuditLogEntry.select()
        .where(
            audit_log.AuditLogEntry.leaf_index.is_null(False)
            & (
                (audit_log.AuditLogEntry.leaf_index >= tree_size)
                | audit_log.AuditLogEntry.block_height.is_null()
            )
        )
        .first()
    )
    if stray is not None:
        raise LedgerError(f"audit entry at leaf {stray.leaf_index} is outside every block")


def _block_rows(height: int) -> Iterable[CheckinEntry]:
    """The check-ins sealed in block ``height``, in leaf order (only the audited columns)."""
    return (
        CheckinEntry.select(
            CheckinEntry.leaf_index,
            CheckinEntry.checkin_id,
            CheckinEntry.commit,
            CheckinEntry.leaf_hash,
            CheckinEntry.day,
            CheckinEntry.sealed,
        )
        .where(CheckinEntry.block_height == height)
        .order_by(CheckinEntry.leaf_index)
    )


def _append_tile(tiles: TileChecker, leaf: bytes, where: str) -> None:
    try:
        tiles.append(leaf)
    except StorageFault as exc:
        raise LedgerError(f"{where}: {exc}") from exc


def _check_stored_columns(
    entry: BlockEntry, header: BlockHeader, tree: MerkleAccumulator, where: str
) -> None:
    """The unsigned columns served by the API and used by the sequencer match the header."""
    if (
        bytes(entry.block_hash) != header.block_hash
        or entry.tree_size != header.tree_size
        or bytes(entry.root) != header.root
    ):
        raise LedgerError(f"{where}: stored hash, size or root differs from the signed header")
    try:
        peaks = decode(bytes(entry.peaks), max_size=64 * 40, what="peaks")
    except ProtocolError as exc:
        raise LedgerError(f"{where}: stored tree peaks are corrupt: {exc}") from exc
    if peaks != list(tree.peaks):
        raise LedgerError(f"{where}: stored tree peaks differ from the recomputed tree")


def _recompute_leaf(row: CheckinEntry, where: str) -> bytes:
    try:
        data = leaf_data(bytes(row.checkin_id), bytes(row.commit))
    except ProtocolError as exc:
        raise LedgerError(f"{where}: stored check-in {row.leaf_index} is corrupt: {exc}") from exc
    expected = leaf_hash(data)
    if expected != bytes(row.leaf_hash):
        raise LedgerError(f"{where}: leaf {row.leaf_index} does not match its check-in")
    return expected


def _check_plaintext(row: CheckinEntry, vault: Vault, where: str) -> None:
    """The decrypted record is the committed one and carries the leaf's check-in id."""
    try:
        wire = vault.open(bytes(row.checkin_id), row.day, bytes(row.sealed))
    except VaultError as exc:
        raise LedgerError(
            f"{where}: stored check-in {row.leaf_index} is unreadable: {exc}"
        ) from exc
    if hashlib.sha256(wire).digest() != bytes(row.commit):
        raise LedgerError(f"{where}: leaf {row.leaf_index} does not match its check-in")
    try:
        record = parse_checkin(wire)
    except ProtocolError as exc:
        raise LedgerError(f"{where}: stored check-in {row.leaf_index} is corrupt: {exc}") from exc
    if record.checkin_id != bytes(row.checkin_id):
        raise LedgerError(f"{where}: leaf {row.leaf_index} holds another check-in's record")
