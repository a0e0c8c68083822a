"""Inclusion and consistency proofs from the stored leaf hashes.

The ledger is append-only, so the leaf hashes are cached in memory per process and
only the leaves sealed since the last request are read from the database (a prefix
cache: every tree size is a prefix of the list). Making one proof hashes O(n) nodes
(protocol.merkle recomputes the sibling subtree roots it needs) and the cache holds
about 75 bytes per leaf, so this suits ledgers up to a few million leaves; past that,
stored interior hashes (C2SP tlog-tiles) would make proofs O(log n).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from protocol import merkle
from protocol.block import leaf_data, parse_block
from protocol.errors import ProtocolError

from .db import BlockEntry, CheckinEntry

LOAD_CHUNK = 50_000


class ProofError(LookupError):
    """A proof that cannot be made; ``reason`` is a short label, ``status`` an HTTP code."""

    def __init__(self, reason: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class StorageFault(RuntimeError):
    """The stored leaves are not a contiguous run from 0: the database is damaged."""


class LeafCache:
    """Leaf hashes 0..n-1 of the log, extended on demand; safe to share between threads."""

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._lock = threading.Lock()

    def prefix(self, size: int) -> list[bytes]:
        """The first ``size`` leaf hashes (all sealed: ``size`` is at most the tree size)."""
        with self._lock:
            while len(self._hashes) < size:
                start = len(self._hashes)
                rows = (
                    CheckinEntry.select(CheckinEntry.leaf_index, CheckinEntry.leaf_hash)
                    .where(
                        (CheckinEntry.leaf_index >= start)
                        & (CheckinEntry.leaf_index < min(size, start + LOAD_CHUNK))
                    )
                    .order_by(CheckinEntry.leaf_index)
                    .tuples()
                )
                loaded = 0
                for index, leaf in rows:
                    if index != start + loaded:
                        raise StorageFault(f"leaf {start + loaded} is missing from storage")
                    self._hashes.append(bytes(leaf))
                    loaded += 1
                if loaded == 0:
                    raise StorageFault(f"leaf {start} is missing from storage")
            return self._hashes[:size]

    def __len__(self) -> int:
        return len(self._hashes)


def latest_block() -> BlockEntry | None:
    """The last sealed block, or None."""
    return BlockEntry.select().order_by(BlockEntry.height.desc()).first()


@dataclass(frozen=True)
class InclusionProof:
    """Where a check-in sits in the tree of one checkpoint, and the path up to its root."""

    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes
    proof: list[bytes]
    checkpoint: str
    block_height: int
    commit: bytes | None

    def to_json(self) -> dict[str, object]:
        return {
            "leaf_index": self.leaf_index,
            "leaf_hash": self.leaf_hash.hex(),
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "proof": [p.hex() for p in self.proof],
            "checkpoint": self.checkpoint,
            "block_height": self.block_height,
            "commit": None if self.commit is None else self.commit.hex(),
        }


def inclusion(cache: LeafCache, checkin_id: bytes, tree_size: int | None) -> InclusionProof:
    """Inclusion proof for a check-in against the checkpoint of ``tree_size`` (default latest)."""
    entry = CheckinEntry.get_or_none(CheckinEntry.checkin_id == checkin_id)
    if entry is None:
        raise ProofError("unknown_checkin", "no such check-in", 404)
    if entry.leaf_index is None:
        raise ProofError("not_sealed", "the check-in is not sealed into a block yet", 404)
    if tree_size is None:
        block = latest_block()
    else:
        block = BlockEntry.get_or_none(BlockEntry.tree_size == tree_size)
        if block is None:
            raise ProofError("not_a_checkpoint", f"no checkpoint has tree size {tree_size}")
    assert block is not None  # a sealed leaf implies a block
    if entry.leaf_index >= block.tree_size:
        raise ProofError("not_in_tree", f"leaf {entry.leaf_index} is not in tree {tree_size}")
    leaves = cache.prefix(block.tree_size)
    return InclusionProof(
        leaf_index=entry.leaf_index,
        leaf_hash=bytes(entry.leaf_hash),
        tree_size=block.tree_size,
        root=bytes(block.root),
        proof=merkle.inclusion_proof(leaves, entry.leaf_index),
        checkpoint=block.checkpoint,
        block_height=block.height,
        commit=_commitment(entry),
    )


def _commitment(entry: CheckinEntry) -> bytes | None:
    """The leaf's commitment, when the stored leaf is ``leaf_data(id, SHA-256(record))``.

    Given to the client, it lets the client check that the leaf really names the
    check-in id it asked about. It reveals nothing of the visit.
    """
    commit = hashlib.sha256(bytes(entry.wire)).digest()
    checkin_id = bytes(entry.checkin_id)
    if merkle.leaf_hash(leaf_data(checkin_id, commit)) == bytes(entry.leaf_hash):
        return commit
    return None


def consistency(cache: LeafCache, old: int, new: int | None) -> tuple[int, int, list[bytes]]:
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
    return old, new, merkle.consistency_proof(cache.prefix(new), old)


def block_leaves(cache: LeafCache, height: int) -> tuple[BlockEntry, list[bytes]]:
    """A block and the hashes of the leaves it added."""
    block = BlockEntry.get_or_none(BlockEntry.height == height)
    if block is None:
        raise ProofError("unknown_block", f"no block {height}", 404)
    try:
        first = parse_block(bytes(block.wire)).first_leaf
    except ProtocolError as exc:
        raise StorageFault(f"stored header of block {height} does not parse: {exc}") from exc
    return block, cache.prefix(block.tree_size)[first:]
