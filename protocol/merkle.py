"""RFC 9162 Merkle tree hashing, proofs and proof verification.

Leaf and node hashes follow RFC 9162 section 2.1.1 (SHA-256 with 0x00 / 0x01
domain separation). Proof generation is iterative: each proof computes the
O(log n) sibling subtree roots it needs, which costs O(n) hashing in total and
no recursion. Verification follows sections 2.1.3.2 and 2.1.4.2 literally.
Indices are 0-based.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from protocol.errors import ConsistencyProofError, InclusionProofError, MerkleError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Return MTH(D[lo:hi]) for 0 <= lo < hi, hashing level by level.

    Pairing adjacent nodes and promoting an unpaired last node yields the same
    left-balanced tree as the recursive definition in RFC 9162 section 2.1.1.
    """
    level = list(leaf_hashes[lo:hi])
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [
            sha256(_NODE_PREFIX + a + b).digest()
            for a, b in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of the given leaf hashes (SHA-256("") if empty)."""
    if len(leaf_hashes) == 0:
        return EMPTY_ROOT
    return _subtree_root(leaf_hashes, 0, len(leaf_hashes))


SubtreeRoot = Callable[[int, int], bytes]
"""MTH(D[lo:hi]) of some tree, however it is stored (a list of leaves, a cache)."""


def inclusion_path(size: int, index: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """The RFC 9162 inclusion proof (leaf to root) of ``index`` in a tree of ``size``."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf index {index} out of range for tree size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _largest_power_of_two_below(hi - lo)
        if index < mid:
            path.append(subtree_root(mid, hi))
            hi = mid
        else:
            path.append(subtree_root(lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_path(size: int, old_size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old_size`` to ``size`` (empty if equal).

    A proof from the empty tree to a non-empty one is undefined (RFC 9162 requires
    0 < old_size).
    """
    if not 0 <= old_size <= size:
        raise MerkleError(f"old size {old_size} out of range for tree size {size}")
    if old_size == size:
        return []
    if old_size == 0:
        raise MerkleError("a consistency proof from the empty tree is undefined")
    path: list[bytes] = []
    lo, hi, m, complete = 0, size, old_size, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                path.append(subtree_root(lo, hi))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            path.append(subtree_root(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_root(lo, lo + k))
            lo += k
            m -= k
            complete = False
    path.reverse()
    return path


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return the RFC 9162 inclusion proof (leaf to root order) for leaf ``index``."""
    return inclusion_path(
        len(leaf_hashes), index, lambda lo, hi: _subtree_root(leaf_hashes, lo, hi)
    )


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return the RFC 9162 consistency proof from ``old_size`` to ``len(leaf_hashes)``."""
    return consistency_path(
        len(leaf_hashes), old_size, lambda lo, hi: _subtree_root(leaf_hashes, lo, hi)
    )


def _check_hash(value: object, what: str, error: type[MerkleError]) -> bytes:
    """Raise ``error`` unless value is a 32-byte hash."""
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise error(f"{what} must be a {HASH_SIZE}-byte hash, got {got}")
    return bytes(value)


def _check_size(value: object, what: str, error: type[MerkleError]) -> int:
    """Raise ``error`` unless value is a non-negative int (bools excluded)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise error(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _inclusion_proof_length(index: int, size: int) -> int:
    """Return the inclusion proof length for ``index`` in a tree of ``size`` leaves."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof (RFC 9162 section 2.1.3.2); raise InclusionProofError."""
    err = InclusionProofError
    index = _check_size(index, "leaf index", err)
    tree_size = _check_size(tree_size, "tree size", err)
    if index >= tree_size:
        raise err(f"leaf index {index} out of range for tree size {tree_size}")
    leaf = _check_hash(leaf_hash, "leaf hash", err)
    root_hash = _check_hash(root, "root hash", err)
    path = [_check_hash(p, f"proof[{i}]", err) for i, p in enumerate(proof)]
    want = _inclusion_proof_length(index, tree_size)
    if len(path) != want:
        raise err(f"wrong proof length {len(path)}, want {want} for index {index} of {tree_size}")

    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise err("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise err("inclusion proof is too short")
    if r != root_hash:
        raise err("inclusion proof does not lead to the expected root hash")


def _consistency_proof_length(old_size: int, new_size: int) -> int:
    """Return the consistency proof length for 0 < old_size < new_size."""
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    shift = (old_size & -old_size).bit_length() - 1
    start = 0 if old_size == 1 << shift else 1
    return start + inner - shift + border


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Verify a consistency proof (RFC 9162 section 2.1.4.2); raise ConsistencyProofError.

    Equal sizes need an empty proof and equal roots (the empty tree's root must
    be SHA-256("")). A proof from the empty tree (old_size 0) is always refused,
    since RFC 9162 defines consistency proofs only for 0 < old_size < new_size.
    """
    err = ConsistencyProofError
    old_size = _check_size(old_size, "old size", err)
    new_size = _check_size(new_size, "new size", err)
    proof = list(proof)
    if old_size > new_size:
        raise err(f"old size {old_size} is greater than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise err("sizes are equal but the consistency proof is not empty")
        if old_root != new_root:
            raise err("sizes are equal but the roots differ")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise err("the root of an empty tree must be SHA-256 of the empty string")
        return
    if old_size == 0:
        raise err("a consistency proof from the empty tree is meaningless")
    old_root = _check_hash(old_root, "old root", err)
    new_root = _check_hash(new_root, "new root", err)
    path = [_check_hash(p, f"proof[{i}]", err) for i, p in enumerate(proof)]
    if not path:
        raise err("consistency proof is empty")
    want = _consistency_proof_length(old_size, new_size)
    if len(path) != want:
        raise err(f"wrong proof length {len(path)}, want {want} for {old_size} -> {new_size}")

    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise err("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise err("consistency proof is too short")
    if fr != old_root:
        raise err("consistency proof does not match the old root")
    if sr != new_root:
        raise err("consistency proof does not match the new root")


class MerkleAccumulator:
    """Append-only Merkle tree state: the roots of its perfect subtrees.

    Holds one hash per set bit of ``size`` (largest subtree first), so memory
    is O(log n). ``root()`` folds them right to left as RFC 9162 does.
    """

    __slots__ = ("_size", "_peaks")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @classmethod
    def from_state(cls, size: int, peaks: Sequence[bytes]) -> MerkleAccumulator:
        """Restore from a saved ``(size, peaks)`` pair; raise MerkleError if inconsistent."""
        size = _check_size(size, "size", MerkleError)
        if len(peaks) != size.bit_count():
            raise MerkleError(f"size {size} needs {size.bit_count()} peaks, got {len(peaks)}")
        acc = cls()
        acc._size = size
        acc._peaks = [_check_hash(p, f"peak[{i}]", MerkleError) for i, p in enumerate(peaks)]
        return acc

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees, largest (leftmost) first."""
        return tuple(self._peaks)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (32 bytes), merging equal-sized subtrees."""
        node = _check_hash(leaf, "leaf hash", MerkleError)
        n = self._size
        while n & 1:
            node = node_hash(self._peaks.pop(), node)
            n >>= 1
        self._peaks.append(node)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """Return the Merkle tree hash of all leaves appended so far."""
        if not self._peaks:
            return EMPTY_ROOT
        r = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            r = node_hash(peak, r)
        return r
