"""Tiles: proofs from stored subtree roots equal protocol.merkle's, with tiles missing or not.

Pure tests feed TileTree from memory; database tests seal real blocks across tile
boundaries and check what the sequencer stored (SQLite, then PostgreSQL).
"""

from __future__ import annotations

import hashlib
import random

import peewee
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import tiles
from aggregator.audit import LedgerError, verify_ledger
from aggregator.proofs import StorageFault, TreeCache, inclusion
from aggregator.sequencer import Sequencer
from aggregator.tiles import HEIGHT, TileEntry, TileTree, fill_missing_tiles
from protocol import merkle
from tests.unit.ledger_builder import LEDGER, NOW, ORIGIN, LedgerBuilder, leaf_hashes


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"leaf %d" % i).digest() for i in range(n)]


def stored_nodes(hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every tile root a sequencer would have stored for ``hashes`` (the reference)."""
    out = {}
    level = HEIGHT
    while len(hashes) >> level:
        for index in range(len(hashes) >> level):
            out[(level, index)] = merkle.root(hashes[index << level : (index + 1) << level])
        level += HEIGHT
    return out


def tree_over(
    hashes: list[bytes], nodes: dict[tuple[int, int], bytes], cache_entries: int = 50_000
) -> TileTree:
    def read_leaves(lo: int, hi: int) -> list[bytes]:
        if hi > len(hashes):
            raise StorageFault(f"leaf {len(hashes)} is missing from storage")
        return hashes[lo:hi]

    def read_nodes(level: int, lo: int, hi: int) -> dict[int, bytes]:
        return {i: nodes[(level, i)] for i in range(lo, hi) if (level, i) in nodes}

    return TileTree(read_leaves, read_nodes, cache_entries)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 1400),
    missing=st.floats(0, 1),
    cache_entries=st.sampled_from([1, 50_000]),
    data=st.data(),
)
def test_proofs_match_the_reference(
    n: int, missing: float, cache_entries: int, data: st.DataObject
) -> None:
    hashes = leaves(n)
    rng = random.Random(n)
    nodes = {k: v for k, v in stored_nodes(hashes).items() if rng.random() >= missing}
    cache = TreeCache(tree_over(hashes, nodes, cache_entries))
    size = data.draw(st.integers(1, n))
    assert cache.root(size) == merkle.root(hashes[:size])
    index = data.draw(st.integers(0, size - 1))
    assert cache.inclusion_proof(index, size) == merkle.inclusion_proof(hashes[:size], index)
    old = data.draw(st.integers(1, size))
    assert cache.consistency_proof(old, size) == merkle.consistency_proof(hashes[:size], old)


def test_a_tree_past_two_tile_levels_proves_with_few_reads() -> None:
    n = 70_001  # level-16 tiles exist
    hashes = leaves(n)
    nodes = stored_nodes(hashes)
    assert (16, 0) in nodes
    reads: list[int] = []
    tree = tree_over(hashes, nodes)
    inner = tree._read_leaves
    tree._read_leaves = lambda lo, hi: reads.append(hi - lo) or inner(lo, hi)  # type: ignore[method-assign]
    cache = TreeCache(tree)
    root = merkle.root(hashes)
    assert cache.root(n) == root
    for index in (0, 255, 256, 65_535, 65_536, 70_000):
        reads.clear()
        proof = cache.inclusion_proof(index, n)
        merkle.verify_inclusion(hashes[index], index, n, proof, root)
        assert sum(reads) < 2 * 256, "a proof reads at most a tile's worth of leaves"
    for old in (1, 256, 65_536, 69_999):
        old_root = merkle.root(hashes[:old])
        merkle.verify_consistency(old, n, old_root, root, cache.consistency_proof(old, n))
    assert tree.rebuilt == 0


def test_bad_ranges_raise() -> None:
    hashes = leaves(10)
    cache = TreeCache(tree_over(hashes, {}))
    for index, size in ((10, 10), (-1, 5)):
        with pytest.raises(ValueError):
            cache.inclusion_proof(index, size)
    with pytest.raises(ValueError):
        cache.consistency_proof(0, 5)
    with pytest.raises(ValueError):
        cache.tree.perfect(3, 2)  # not aligned
    with pytest.raises(StorageFault):
        cache.root(11)


def stored_tiles() -> dict[tuple[int, int], bytes]:
    return {(t.level, t.index): bytes(t.hash) for t in TileEntry.select()}


def test_the_sequencer_stores_each_completed_tile_once(db: peewee.Database) -> None:
    builder = LedgerBuilder()
    for count in (200, 60, 300, 1, 90):  # tiles completed mid-block and across blocks
        builder.block(count)
    hashes = leaf_hashes()
    assert len(hashes) == 651
    assert stored_tiles() == stored_nodes(hashes)  # tiles 0 and 1 of level 8
    cache = TreeCache()
    root = merkle.root(hashes)
    assert cache.root(len(hashes)) == root
    for index in (0, 255, 256, 511, 512, 650):
        proof = cache.inclusion_proof(index, len(hashes))
        merkle.verify_inclusion(hashes[index], index, len(hashes), proof, root)
    assert cache.tree.rebuilt == 0


def test_a_ledger_sealed_without_tiles_gets_them_back(db: peewee.Database) -> None:
    builder = LedgerBuilder()
    builder.block(300)
    want = stored_tiles()
    TileEntry.delete().execute()
    tree = TileTree()
    assert tree.root(300) == merkle.root(leaf_hashes())  # rebuilt from the leaves meanwhile
    assert tree.rebuilt == 1
    assert fill_missing_tiles(300) == 1
    assert stored_tiles() == want
    assert fill_missing_tiles(300) == 0
    # A new sequencer (a restart) fills what is missing before its first block.
    TileEntry.delete().execute()
    builder.sequencer = Sequencer(LEDGER, ORIGIN, now=lambda: NOW + 1)
    builder.block(300)
    assert len(stored_tiles()) == 2
    assert stored_tiles() == stored_nodes(leaf_hashes())


def test_write_tiles_wants_exactly_the_new_leaves(db: peewee.Database) -> None:
    with pytest.raises(ValueError):
        tiles.write_tiles(0, 3, [b"\0" * 32])


def test_the_audit_refuses_a_ledger_whose_stored_tile_was_changed(db: peewee.Database) -> None:
    builder = LedgerBuilder()
    ids = builder.block(520)
    assert verify_ledger(LEDGER.public_key(), ORIGIN).tree_size == 520
    TileEntry.update(hash=b"\x01" * 32).where(
        (TileEntry.level == HEIGHT) & (TileEntry.index == 1)
    ).execute()
    with pytest.raises(LedgerError, match="tile 8/1 differs"):
        verify_ledger(LEDGER.public_key(), ORIGIN)
    # The read API refuses to prove against it too: the root no longer rebuilds.
    with pytest.raises(StorageFault, match="do not rebuild the root"):
        inclusion(TreeCache(), ids[0], None)
