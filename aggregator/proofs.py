"""Inclusion and consistency proofs from the stored leaf hashes.

The ledger is append-only, so each web process keeps the leaf hashes (32 bytes each)
and the roots of aligned subtrees of 64 leaves and more in memory (TreeCache), and
reads from the database only the leaves sealed since its last request. The first
request after a start loads every leaf once (O(n) reads and hashes); after that a
proof costs O(log n) cached roots plus at most 63 hashes per level. Past tens of
millions of leaves, stored interior hashes (C2SP tlog-tiles) would save the memory.
"""

from __future__ import annotations

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


class TreeCache:
    """The log's leaf hashes and the roots of its aligned perfect subtrees, kept in memory.

    Leaves are packed 32 bytes each; subtree roots are kept from size 2**LOW up (about
    one byte per leaf), smaller ones are rehashed from the leaves when needed. Every
    range the RFC 9162 proof algorithms ask for starts at a multiple of a power of two
    at least its length, so its root folds O(log n) cached roots: a proof costs a few
    hundred hashes, not O(n). Appends are incremental; one lock guards everything.
    """

    LOW = 6

    def __init__(self) -> None:
        self._leaves = bytearray()
        self._levels: dict[int, bytearray] = {}
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self._leaves) // 32

    def _load(self, size: int) -> None:
        """Read leaves up to ``size`` from storage and hash the subtrees they complete."""
        while self.size < size:
            start = self.size
            rows = (
                CheckinEntry.select(CheckinEntry.leaf_index, CheckinEntry.leaf_hash)
                .where(
                    (CheckinEntry.leaf_index >= start)
                    & (CheckinEntry.leaf_index < min(size, start + LOAD_CHUNK))
                )
                .order_by(CheckinEntry.leaf_index)
                .tuples()
            )
            loaded = bytearray()
            for index, leaf in rows:
                if index != start + len(loaded) // 32 or len(bytes(leaf)) != 32:
                    raise StorageFault(f"leaf {start + len(loaded) // 32} is missing or damaged")
                loaded += bytes(leaf)
            if not loaded:
                raise StorageFault(f"leaf {start} is missing from storage")
            self._leaves += loaded
            self._build()

    def _build(self) -> None:
        level, below = self.LOW, None
        while (self.size >> level) > 0:
            nodes = self._levels.setdefault(level, bytearray())
            for j in range(len(nodes) // 32, self.size >> level):
                if below is None:
                    nodes += self._hash_leaves(j << level, level)
                else:
                    nodes += merkle.node_hash(
                        below[64 * j : 64 * j + 32], below[64 * j + 32 : 64 * j + 64]
                    )
            level, below = level + 1, nodes

    def _hash_leaves(self, lo: int, level: int) -> bytes:
        nodes = [bytes(self._leaves[32 * i : 32 * i + 32]) for i in range(lo, lo + (1 << level))]
        while len(nodes) > 1:
            nodes = [merkle.node_hash(a, b) for a, b in zip(nodes[0::2], nodes[1::2], strict=True)]
        return nodes[0]

    def _perfect(self, lo: int, level: int) -> bytes:
        """Root of the aligned perfect subtree of 2**level leaves starting at ``lo``."""
        if lo % (1 << level):
            raise ValueError(f"subtree at {lo} is not aligned to {1 << level}")
        if level >= self.LOW:
            at = 32 * (lo >> level)
            return bytes(self._levels[level][at : at + 32])
        return self._hash_leaves(lo, level)

    def _root(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for an aligned range: fold its perfect subtrees right to left."""
        peaks, pos, n = [], lo, hi - lo
        for bit in reversed(range(n.bit_length())):
            if n >> bit & 1:
                peaks.append(self._perfect(pos, bit))
                pos += 1 << bit
        root = peaks[-1]
        for peak in reversed(peaks[:-1]):
            root = merkle.node_hash(peak, root)
        return root

    def root(self, size: int) -> bytes:
        """The tree hash of the first ``size`` leaves."""
        with self._lock:
            self._load(size)
            return merkle.EMPTY_ROOT if size == 0 else self._root(0, size)

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        """Leaf hashes ``lo`` to ``hi - 1``."""
        with self._lock:
            self._load(hi)
            return [bytes(self._leaves[32 * i : 32 * i + 32]) for i in range(lo, hi)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
        with self._lock:
            self._load(size)
            return merkle.inclusion_path(size, index, self._root)

    def consistency_proof(self, old: int, size: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``old`` to ``size`` leaves (0 < old <= size)."""
        if not 0 < old <= size:
            raise ValueError(f"no consistency proof from {old} to {size}")
        with self._lock:
            self._load(size)
            return merkle.consistency_path(size, old, self._root)


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


def inclusion(cache: TreeCache, checkin_id: bytes, tree_size: int | None) -> InclusionProof:
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
    )


def _commitment(entry: CheckinEntry) -> bytes | None:
    """The leaf's commitment, when the stored leaf is ``leaf_data(id, SHA-256(record))``.

    Given to the client, it lets the client check that the leaf really names the
    check-in id it asked about. It reveals nothing of the visit.
    """
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

    The cache only grows, so this also catches a database replaced or rewritten under
    a running process. (Block leaf listings are not checked: auditors check those.)
    """
    if cache.root(block.tree_size) != bytes(block.root):
        raise StorageFault(f"stored leaves do not rebuild the root of block {block.height}")


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
