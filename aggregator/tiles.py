"""Stored interior hashes of the ledger's Merkle tree, so proofs never load every leaf.

In the manner of C2SP tlog-tiles (tiles of height 8), the sequencer stores, in the
same transaction as each block, the root of every aligned perfect subtree of
256**k leaves (k >= 1) the block completes: ``TileEntry(level=8k, index, hash)``.
Any aligned perfect subtree of the tree then costs at most 255 hashes over at most
128 stored nodes of the level below it, and a proof O(log n) small indexed reads,
whatever the size of the log. Memory per web process is a bounded LRU of nodes.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

import peewee

from protocol import merkle

from .audit_log import AuditLogEntry
from .models_base import BaseModel, BlobField
from .tables import CheckinEntry

log = logging.getLogger(__name__)

#: Levels per tile: nodes are stored at levels 8, 16, 24, ...
HEIGHT = 8
WIDTH = 1 << HEIGHT


class TileEntry(BaseModel):
    """The root of the aligned perfect subtree of 2**level leaves starting at index << level."""

    level = peewee.SmallIntegerField()
    index = peewee.BigIntegerField()
    hash = BlobField()

    class Meta:
        table_name = "tile"
        primary_key = peewee.CompositeKey("level", "index")


class StorageFault(RuntimeError):
    """Stored leaves or nodes are missing or damaged: the database is not a whole ledger."""


def _fold(nodes: list[bytes]) -> bytes:
    """Root of a perfect subtree from its 2**k nodes at one level (RFC 9162 hashing)."""
    return merkle.root(nodes)


_SQL: dict[tuple[int, str], str] = {}


def _sql(name: str) -> str:
    """The SQL of a hot range read, built by peewee once per database (placeholders kept)."""
    db = CheckinEntry._meta.database
    key = (id(db.obj), name)
    if key not in _SQL:
        lo, hi, level = -987_654_321_001, -987_654_321_002, -987_654_321_003
        if name == "leaves":
            query = (
                CheckinEntry.select(CheckinEntry.leaf_index, CheckinEntry.leaf_hash)
                .where((CheckinEntry.leaf_index >= lo) & (CheckinEntry.leaf_index < hi))
                .order_by(CheckinEntry.leaf_index)
            )
        elif name == "audit_leaves":
            query = (
                AuditLogEntry.select(AuditLogEntry.leaf_index, AuditLogEntry.leaf_hash)
                .where((AuditLogEntry.leaf_index >= lo) & (AuditLogEntry.leaf_index < hi))
                .order_by(AuditLogEntry.leaf_index)
            )
        else:
            query = TileEntry.select(TileEntry.index, TileEntry.hash).where(
                (TileEntry.level == level) & (TileEntry.index >= lo) & (TileEntry.index < hi)
            )
        sql, params = query.sql()
        if params != ([level, lo, hi] if name == "nodes" else [lo, hi]):
            raise AssertionError(f"unexpected parameters for {name}: {params}")
        _SQL[key] = sql
    return _SQL[key]


def read_leaves(lo: int, hi: int) -> list[bytes]:
    """Leaf hashes ``lo`` to ``hi - 1``; StorageFault if any is absent.

    Leaves live in two tables, check-ins and audit entries (aggregator/audit_log.py),
    merged here by leaf index.
    """
    db = CheckinEntry._meta.database
    out: list[bytes] = []
    rows = db.execute_sql(_sql("leaves"), (lo, hi)).fetchall()
    audit = db.execute_sql(_sql("audit_leaves"), (lo, hi)).fetchall()
    if audit:
        rows = sorted(rows + audit, key=lambda item: int(item[0]))
    for index, leaf in rows:
        if index != lo + len(out) or len(bytes(leaf)) != 32:
            raise StorageFault(f"leaf {lo + len(out)} is missing or damaged")
        out.append(bytes(leaf))
    if len(out) != hi - lo:
        raise StorageFault(f"leaf {lo + len(out)} is missing from storage")
    return out


def read_nodes(level: int, lo: int, hi: int) -> dict[int, bytes]:
    """Stored nodes of ``level`` (a multiple of HEIGHT, > 0) with index in [lo, hi)."""
    db = TileEntry._meta.database
    rows = db.execute_sql(_sql("nodes"), (level, lo, hi)).fetchall()
    return {int(index): bytes(value) for index, value in rows}


class TileTree:
    """Perfect-subtree roots and proofs over stored leaves and tiles, with a bounded cache.

    ``leaves(lo, hi)`` and ``nodes(level, lo, hi)`` read storage (the ledger database
    by default); a node that storage lacks (a ledger sealed before tiles existed) is
    rebuilt from the level below. Thread-safe.
    """

    def __init__(
        self,
        leaves: Callable[[int, int], list[bytes]] = read_leaves,
        nodes: Callable[[int, int, int], dict[int, bytes]] = read_nodes,
        cache_entries: int = 50_000,
    ) -> None:
        self._read_leaves = leaves
        self._read_nodes = nodes
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cache_entries = cache_entries
        self._lock = threading.Lock()
        self.rebuilt = 0  # nodes storage lacked and that were hashed from below

    def _remember(self, key: tuple[int, int], value: bytes) -> None:
        self._cache[key] = value
        if len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)

    def _row(self, level: int, lo: int, count: int) -> list[bytes]:
        """Nodes ``lo`` .. ``lo + count - 1`` of ``level`` (a multiple of HEIGHT)."""
        if level == 0:
            return self._read_leaves(lo, lo + count)
        found = self._read_nodes(level, lo, lo + count)
        out = []
        for index in range(lo, lo + count):
            value = found.get(index)
            if value is None:
                self.rebuilt += 1
                value = _fold(self._row(level - HEIGHT, index << HEIGHT, WIDTH))
            out.append(value)
        return out

    def perfect(self, lo: int, level: int) -> bytes:
        """Root of the aligned perfect subtree of 2**level leaves starting at leaf ``lo``."""
        if lo % (1 << level):
            raise ValueError(f"subtree at {lo} is not aligned to {1 << level}")
        key = (level, lo >> level)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            base = level - level % HEIGHT
            value = _fold(self._row(base, lo >> base, 1 << (level - base)))
            self._remember(key, value)
            return value

    def subtree_root(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range RFC 9162's proofs ask for: fold its perfect subtrees."""
        peaks, pos, n = [], lo, hi - lo
        for bit in reversed(range(n.bit_length())):
            if n >> bit & 1:
                peaks.append(self.perfect(pos, bit))
                pos += 1 << bit
        root = peaks[-1]
        for peak in reversed(peaks[:-1]):
            root = merkle.node_hash(peak, root)
        return root

    def root(self, size: int) -> bytes:
        return merkle.EMPTY_ROOT if size == 0 else self.subtree_root(0, size)


def write_tiles(old_size: int, new_size: int, new_leaves: list[bytes]) -> int:
    """Store the tiles that leaves ``old_size`` .. ``new_size - 1`` complete; how many.

    Called by the sequencer inside the transaction that seals those leaves.
    ``new_leaves`` are their hashes; older leaves of a tile come from storage.
    """
    if len(new_leaves) != new_size - old_size:
        raise ValueError("new_leaves must hold exactly the leaves being sealed")
    written = 0
    level = HEIGHT
    while new_size >> level > old_size >> level:
        rows = []
        for index in range(old_size >> level, new_size >> level):
            lo = index << level
            if level == HEIGHT:
                first = max(lo, old_size)
                below = read_leaves(lo, first) if lo < first else []
                below += new_leaves[first - old_size : lo + WIDTH - old_size]
            else:
                # Stored just below (this call, or an earlier block); a gap is rebuilt.
                below = TileTree()._row(level - HEIGHT, index << HEIGHT, WIDTH)
            rows.append({"level": level, "index": index, "hash": _fold(below)})
        TileEntry.insert_many(rows).on_conflict_ignore().execute()
        written += len(rows)
        level += HEIGHT
    return written


def fill_missing_tiles(size: int, chunk: int = 64) -> int:
    """Store every tile a ledger of ``size`` leaves lacks (one sealed before tiles); how many.

    Works level by level, ``chunk`` tiles per read; a no-op (one count per level) when
    nothing is missing.
    """
    written = 0
    level = HEIGHT
    while size >> level:
        want = size >> level
        have = TileEntry.select().where(TileEntry.level == level).count()
        if have < want:
            log.info("tiles: storing %d missing node(s) of level %d", want - have, level)
            tree = TileTree()
            for start in range(0, want, chunk):
                end = min(want, start + chunk)
                stored = read_nodes(level, start, end)
                rows = [
                    {"level": level, "index": i, "hash": tree.perfect(i << level, level)}
                    for i in range(start, end)
                    if i not in stored
                ]
                if rows:
                    TileEntry.insert_many(rows).on_conflict_ignore().execute()
                    written += len(rows)
        level += HEIGHT
    return written


class TileChecker:
    """Recomputes tile roots from leaves appended in order and compares the stored ones.

    For auditors: a stored tile that differs from its leaves would make the read API
    serve proofs that do not verify. Missing tiles are counted, not errors (the
    sequencer fills them in).
    """

    def __init__(self) -> None:
        self._buffers: list[list[bytes]] = [[]]
        self._count = [0]  # nodes completed per buffer level (level = 8 * position)
        self._stored: dict[tuple[int, int], bytes] = {}
        self._pages_read: set[tuple[int, int]] = set()
        self.checked = 0
        self.missing = 0

    def _stored_node(self, level: int, index: int) -> bytes | None:
        """The stored node, read 256 at a time; each is looked at once, then dropped."""
        page = index >> HEIGHT
        if (level, page) not in self._pages_read:
            self._pages_read.add((level, page))
            found = read_nodes(level, page << HEIGHT, (page + 1) << HEIGHT)
            self._stored.update({(level, i): value for i, value in found.items()})
        return self._stored.pop((level, index), None)

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash; StorageFault if a tile it completes is stored wrong."""
        self._buffers[0].append(leaf)
        position = 0
        while len(self._buffers[position]) == WIDTH:
            node = _fold(self._buffers[position])
            self._buffers[position] = []
            level, index = (position + 1) * HEIGHT, self._count[position]
            self._count[position] += 1
            stored = self._stored_node(level, index)
            if stored is None:
                self.missing += 1
            elif stored != node:
                raise StorageFault(f"stored tile {level}/{index} differs from its leaves")
            else:
                self.checked += 1
            if len(self._buffers) == position + 1:
                self._buffers.append([])
                self._count.append(0)
            self._buffers[position + 1].append(node)
            position += 1
