"""Inclusion and consistency proofs from the stored leaf hashes and tiles.

The sequencer stores the root of every aligned perfect subtree of 256**k leaves
(aggregator.tiles), so a proof costs O(log n) small indexed reads and at most a
few hundred hashes, with nothing loaded at start and bounded memory per process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from protocol import merkle
from protocol.audit_entry import audit_leaf_hash
from protocol.block import AUDIT_LEAF, CHECKIN_LEAF, leaf_data, parse_block
from protocol.errors import ProtocolError

from . import audit_log
from .db import BlockEntry, CheckinEntry
from .tiles import StorageFault, TileTree, read_leaves

__all__ = ["ProofError", "StorageFault", "TreeCache", "consistency", "inclusion"]


class ProofError(LookupError):
    """A proof that cannot be made; ``reason`` is a short label, ``status`` an HTTP code."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class TreeCache:
    """Roots, leaves and RFC 9162 proofs over the stored leaves and tiles (aggregator.tiles).

    Nothing is loaded at start and memory stays bounded (an LRU of nodes); a proof
    reads O(log n) small ranges. Roots already checked against a signed block are
    remembered, since stored leaves and tiles never change.
    """

    def __init__(self, tree: TileTree | None = None) -> None:
        self.tree = tree or TileTree()
        self.checked_sizes: set[int] = set()

    def root(self, size: int) -> bytes:
        """The tree hash of the first ``size`` leaves."""
        return self.tree.root(size)

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        """Leaf hashes ``lo`` to ``hi - 1``."""
        return read_leaves(lo, hi) if hi > lo else []

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        return merkle.inclusion_path(size, index, self.tree.subtree_root)

    def consistency_proof(self, old: int, size: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``old`` to ``size`` leaves (0 < old <= size)."""
        if not 0 < old <= size:
            raise ValueError(f"no consistency proof from {old} to {size}")
        return merkle.consistency_path(size, old, self.tree.subtree_root)


def latest_block() -> BlockEntry | None:
    """The last sealed block, or None."""
    return BlockEntry.select().order_by(BlockEntry.height.desc()).first()


@dataclass(frozen=True)
class InclusionProof:
    """Where a leaf (check-in or audit entry) sits in one checkpoint's tree, and its path.

    ``kind`` is ``checkin`` or ``audit``; ``commit`` lets the client rebuild the leaf
    from the id it asked about (``block.leaf_data`` or ``block.audit_leaf_data``).
    """

    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes
    proof: list[bytes]
    checkpoint: str
    block_height: int
    commit: bytes | None
    kind: str = CHECKIN_LEAF

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "leaf_index": self.leaf_index,
            "leaf_hash": self.leaf_hash.hex(),
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "proof": [p.hex() for p in self.proof],
            "checkpoint": self.checkpoint,
            "block_height": self.block_height,
            "commit": None if self.commit is None else self.commit.hex(),
        }


def inclusion(cache: TreeCache, checkin_id: bytes, tree_size: int | None) -> InclusionProof:
    """Inclusion proof for a check-in or an audit entry (by its 16-byte id) against the
    checkpoint of ``tree_size`` (default latest)."""
    entry: CheckinEntry | audit_log.AuditLogEntry | None
    entry = CheckinEntry.get_or_none(CheckinEntry.checkin_id == checkin_id)
    if entry is None:
        entry = audit_log.by_audit_id(checkin_id)
    if entry is None:
        raise ProofError("unknown_checkin", "no such check-in or audit entry", 404)
    return inclusion_of(cache, entry, tree_size)


def inclusion_of(
    cache: TreeCache, entry: CheckinEntry | audit_log.AuditLogEntry, tree_size: int | None
) -> InclusionProof:
    """Inclusion proof for a stored check-in or audit entry row."""
    if entry.leaf_index is None:
        raise ProofError("not_sealed", "the leaf is not sealed into a block yet", 404)
    if tree_size is None:
        block = latest_block()
    else:
        block = BlockEntry.get_or_none(BlockEntry.tree_size == tree_size)
        if block is None:
            raise ProofError("not_a_checkpoint", f"no checkpoint has tree size {tree_size}")
    assert block is not None  # a sealed leaf implies a block
    if entry.leaf_index >= block.tree_size:
        raise ProofError("not_in_tree", f"leaf {entry.leaf_index} is not in tree {tree_size}")
    _check_root(cache, block)
    return InclusionProof(
        leaf_index=entry.leaf_index,
        leaf_hash=bytes(entry.leaf_hash),
        tree_size=block.tree_size,
        root=bytes(block.root),
        proof=cache.inclusion_proof(entry.leaf_index, block.tree_size),
        checkpoint=block.checkpoint,
        block_height=block.height,
        commit=_commitment(entry),
        kind=AUDIT_LEAF if isinstance(entry, audit_log.AuditLogEntry) else CHECKIN_LEAF,
    )


def leaf_by_index(index: int) -> CheckinEntry | audit_log.AuditLogEntry | None:
    """The check-in or audit entry at leaf ``index``, if sealed."""
    found = CheckinEntry.get_or_none(CheckinEntry.leaf_index == index)
    if found is None:
        return audit_log.AuditLogEntry.get_or_none(audit_log.AuditLogEntry.leaf_index == index)
    return found


def _commitment(entry: CheckinEntry | audit_log.AuditLogEntry) -> bytes | None:
    """The leaf's commitment, when the stored leaf is ``leaf_data(id, SHA-256(record))``.

    Given to the client, it lets the client check that the leaf really names the
    check-in id it asked about. It reveals nothing of the visit. For an audit entry,
    the SHA-256 of its signed form (``audit_leaf_data(id, commit)``).
    """
    if isinstance(entry, audit_log.AuditLogEntry):
        if entry.wire is None:
            return None
        wire = bytes(entry.wire)
        if audit_leaf_hash(bytes(entry.audit_id), wire) == bytes(entry.leaf_hash):
            return hashlib.sha256(wire).digest()
        return None
    commit = bytes(entry.commit)
    checkin_id = bytes(entry.checkin_id)
    if merkle.leaf_hash(leaf_data(checkin_id, commit)) == bytes(entry.leaf_hash):
        return commit
    return None


def consistency(cache: TreeCache, old: int, new: int | None) -> tuple[int, int, list[bytes]]:
    """(old, new, proof): the RFC 9162 proof that tree ``old`` is a prefix of tree ``new``."""
    block = latest_block()
    latest = 0 if block is None else block.tree_size
    new = latest if new is None else new
    if new > latest:
        raise ProofError("size_out_of_range", f"new size {new} exceeds the tree size {latest}")
    if old > new:
        raise ProofError("old_after_new", f"old size {old} is greater than new size {new}")
    if old == 0:
        raise ProofError("old_is_zero", "a consistency proof from the empty tree is undefined")
    assert block is not None  # latest >= new > 0
    _check_root(cache, block)
    return old, new, cache.consistency_proof(old, new)


def _check_root(cache: TreeCache, block: BlockEntry) -> None:
    """Refuse to prove anything if the stored leaves do not rebuild the signed root.

    Checked once per tree size and process: stored leaves and tiles never change.
    (Block leaf listings are not checked: auditors check those.)
    """
    if block.tree_size in cache.checked_sizes:
        return
    if cache.root(block.tree_size) != bytes(block.root):
        raise StorageFault(f"stored leaves do not rebuild the root of block {block.height}")
    cache.checked_sizes.add(block.tree_size)


def block_leaves(cache: TreeCache, height: int) -> tuple[BlockEntry, list[bytes]]:
    """A block and the hashes of the leaves it added."""
    block = BlockEntry.get_or_none(BlockEntry.height == height)
    if block is None:
        raise ProofError("unknown_block", f"no block {height}", 404)
    try:
        first = parse_block(bytes(block.wire)).first_leaf
    except ProtocolError as exc:
        raise StorageFault(f"stored header of block {height} does not parse: {exc}") from exc
    return block, cache.leaves(first, block.tree_size)
