"""Re-check the whole ledger from storage: signatures, links, leaves, roots, checkpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.block import GENESIS_PREV, BlockHeader, leaf_data, parse_block
from protocol.checkin import parse_checkin
from protocol.checkpoint import open_checkpoint
from protocol.encoding import decode
from protocol.errors import ProtocolError
from protocol.merkle import MerkleAccumulator, leaf_hash
from protocol.note import NoteVerifier

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


def verify_ledger(
    ledger_key: Ed25519PublicKey,
    origin: str,
    *,
    progress: Callable[[int], None] | None = None,
    vault: Vault | None = None,
) -> LedgerSummary:
    """Walk every block in order and recompute everything it commits to.

    Leaves are recomputed from each check-in's id and commitment, so days whose data
    keys were destroyed still verify. With ``vault``, every record that can still be
    read is decrypted and checked against its commitment too.
    """
    gone = destroyed_days() if vault is not None else set()
    verifier = NoteVerifier.from_public_key(origin, ledger_key)
    tree = MerkleAccumulator()
    tiles = TileChecker()
    prev = GENESIS_PREV
    blocks = 0
    for entry in BlockEntry.select().order_by(BlockEntry.height):
        where = f"block {entry.height}"
        try:
            header = parse_block(bytes(entry.wire))
            header.verify(ledger_key)
        except ProtocolError as exc:
            raise LedgerError(f"{where}: header does not verify: {exc}") from exc
        if header.height != blocks or entry.height != blocks:
            raise LedgerError(f"{where}: expected height {blocks}")
        if header.origin != origin:
            raise LedgerError(f"{where}: origin {header.origin!r} is not {origin!r}")
        if header.prev != prev:
            raise LedgerError(f"{where}: does not link to the previous block")
        if header.first_leaf != tree.size:
            raise LedgerError(f"{where}: starts at leaf {header.first_leaf}, not {tree.size}")
        rows = (
            CheckinEntry.select(
                CheckinEntry.leaf_index,
                CheckinEntry.checkin_id,
                CheckinEntry.commit,
                CheckinEntry.leaf_hash,
                CheckinEntry.day,
                CheckinEntry.sealed,
            )
            .where(CheckinEntry.block_height == header.height)
            .order_by(CheckinEntry.leaf_index)
        )
        for row in rows:
            if row.leaf_index != tree.size:
                raise LedgerError(f"{where}: leaf {tree.size} is missing")
            leaf = _recompute_leaf(row, where)
            tree.append(leaf)
            try:
                tiles.append(leaf)
            except StorageFault as exc:
                raise LedgerError(f"{where}: {exc}") from exc
            if vault is not None and row.day not in gone:
                _check_plaintext(row, vault, where)
        if tree.size != header.tree_size:
            raise LedgerError(f"{where}: holds {tree.size} leaves, header says {header.tree_size}")
        if tree.root() != header.root:
            raise LedgerError(f"{where}: recomputed root differs from the signed root")
        try:
            checkpoint = open_checkpoint(entry.checkpoint.encode("utf-8"), verifier, origin)
        except ProtocolError as exc:
            raise LedgerError(f"{where}: checkpoint does not verify: {exc}") from exc
        if checkpoint.size != header.tree_size or checkpoint.root_hash != header.root:
            raise LedgerError(f"{where}: checkpoint disagrees with the block header")
        _check_stored_columns(entry, header, tree, where)
        prev = header.block_hash
        blocks += 1
        if progress:
            progress(blocks)
    return LedgerSummary(blocks, tree.size, tree.root())


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
