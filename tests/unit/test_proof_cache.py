"""TreeCache: proofs from cached subtree roots equal protocol.merkle's, built in any chunks."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.proofs import TreeCache
from protocol import merkle


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"leaf %d" % i).digest() for i in range(n)]


def cache_with(hashes: list[bytes], chunks: list[int], low: int) -> TreeCache:
    """A TreeCache fed in the given chunk sizes, as successive database loads would."""
    cache = TreeCache()
    cache.LOW = low
    at = 0
    for size in [*chunks, len(hashes)]:
        end = min(len(hashes), at + size)
        cache._leaves += b"".join(hashes[at:end])
        cache._build()
        at = end
    cache._load = lambda size: None  # type: ignore[method-assign]
    return cache


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 700),
    chunks=st.lists(st.integers(1, 300), max_size=4),
    low=st.sampled_from([1, 2, 6]),
    data=st.data(),
)
def test_proofs_match_the_reference(
    n: int, chunks: list[int], low: int, data: st.DataObject
) -> None:
    hashes = leaves(n)
    cache = cache_with(hashes, chunks, low)
    size = data.draw(st.integers(1, n))
    assert cache.root(size) == merkle.root(hashes[:size])
    index = data.draw(st.integers(0, size - 1))
    assert cache.inclusion_proof(index, size) == merkle.inclusion_proof(hashes[:size], index)
    old = data.draw(st.integers(1, size))
    assert cache.consistency_proof(old, size) == merkle.consistency_proof(hashes[:size], old)
    assert cache.leaves(0, size) == hashes[:size]


def test_every_proof_in_a_small_tree_verifies() -> None:
    hashes = leaves(70)
    cache = cache_with(hashes, [40], 6)
    for size in range(1, 71):
        root = merkle.root(hashes[:size])
        for index in range(size):
            merkle.verify_inclusion(
                hashes[index], index, size, cache.inclusion_proof(index, size), root
            )
        for old in range(1, size + 1):
            old_root = merkle.root(hashes[:old])
            merkle.verify_consistency(old, size, old_root, root, cache.consistency_proof(old, size))


def test_bad_ranges_raise() -> None:
    cache = cache_with(leaves(10), [], 6)
    for index, size in ((10, 10), (-1, 5)):
        with pytest.raises(ValueError):
            cache.inclusion_proof(index, size)
    with pytest.raises(ValueError):
        cache.consistency_proof(0, 5)
    with pytest.raises(ValueError):
        cache._perfect(3, 2)  # not aligned
