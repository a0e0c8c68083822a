"""Tests for protocol.merkle against the transparency-dev vectors and by construction."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import merkle
from protocol.errors import ConsistencyProofError, InclusionProofError, MerkleError
from tests.shared_data import SHARED_DATA

DATA_DIR = SHARED_DATA / "merkle"

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
LEAF_HASHES = [merkle.leaf_hash(x) for x in LEAVES]


def _vector_files(kind: str) -> list[Path]:
    folder = DATA_DIR / kind
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(p) for p in value or []]


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(DATA_DIR)) for p in paths]


def _require_data(paths: list[Path]) -> None:
    if not paths:
        pytest.skip(f"Merkle test vectors not found under {DATA_DIR}")


INCLUSION_FILES = _vector_files("inclusion")
CONSISTENCY_FILES = _vector_files("consistency")


def test_vector_folders_present() -> None:
    _require_data(INCLUSION_FILES)
    _require_data(CONSISTENCY_FILES)
    assert len(INCLUSION_FILES) > 50
    assert len(CONSISTENCY_FILES) > 50


@pytest.mark.parametrize(
    "path", INCLUSION_FILES or [None], ids=_ids(INCLUSION_FILES) or ["no-data"]
)
def test_inclusion_vector(path: Path | None) -> None:
    _require_data(INCLUSION_FILES)
    assert path is not None
    v = json.loads(path.read_text())
    args = (
        _b64(v.get("leafHash")),
        v.get("leafIdx") or 0,
        v.get("treeSize") or 0,
        _proof(v.get("proof")),
        _b64(v.get("root")),
    )
    if v["wantErr"]:
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize(
    "path", CONSISTENCY_FILES or [None], ids=_ids(CONSISTENCY_FILES) or ["no-data"]
)
def test_consistency_vector(path: Path | None) -> None:
    _require_data(CONSISTENCY_FILES)
    assert path is not None
    v = json.loads(path.read_text())
    args = (
        v.get("size1") or 0,
        v.get("size2") or 0,
        _b64(v.get("root1")),
        _b64(v.get("root2")),
        _proof(v.get("proof")),
    )
    if v["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def _recursive_root(hashes: list[bytes]) -> bytes:
    """RFC 9162 MTH, written as the recursive definition, for cross-checking."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(_recursive_root(hashes[:k]), _recursive_root(hashes[k:]))


def test_hash_primitives() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_known_root_of_eight_leaves() -> None:
    assert merkle.root(LEAF_HASHES).hex() == ROOT_8


def test_roots_match_recursive_definition() -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(70)]
    for n in range(71):
        assert merkle.root(hashes[:n]) == _recursive_root(hashes[:n])


@pytest.mark.parametrize("size", range(1, 9))
def test_generated_inclusion_proofs_verify(size: int) -> None:
    hashes = LEAF_HASHES[:size]
    tree_root = merkle.root(hashes)
    for index in range(size):
        proof = merkle.inclusion_proof(hashes, index)
        merkle.verify_inclusion(hashes[index], index, size, proof, tree_root)


@pytest.mark.parametrize("new_size", range(1, 9))
def test_generated_consistency_proofs_verify(new_size: int) -> None:
    new_root = merkle.root(LEAF_HASHES[:new_size])
    for old_size in range(1, new_size + 1):
        proof = merkle.consistency_proof(LEAF_HASHES[:new_size], old_size)
        old_root = merkle.root(LEAF_HASHES[:old_size])
        merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)


def test_generator_argument_errors() -> None:
    with pytest.raises(MerkleError):
        merkle.inclusion_proof(LEAF_HASHES, 8)
    with pytest.raises(MerkleError):
        merkle.inclusion_proof(LEAF_HASHES, -1)
    with pytest.raises(MerkleError):
        merkle.inclusion_proof([], 0)
    with pytest.raises(MerkleError):
        merkle.consistency_proof(LEAF_HASHES, 9)
    with pytest.raises(MerkleError):
        merkle.consistency_proof(LEAF_HASHES, -1)
    with pytest.raises(MerkleError):
        merkle.consistency_proof(LEAF_HASHES, 0)
    assert merkle.consistency_proof([], 0) == []
    assert merkle.consistency_proof(LEAF_HASHES, 8) == []


def test_verifier_edge_cases() -> None:
    r = merkle.root(LEAF_HASHES)
    proof = merkle.inclusion_proof(LEAF_HASHES, 3)
    with pytest.raises(InclusionProofError, match="out of range"):
        merkle.verify_inclusion(LEAF_HASHES[3], 8, 8, proof, r)
    with pytest.raises(InclusionProofError, match="proof length"):
        merkle.verify_inclusion(LEAF_HASHES[3], 3, 8, proof[:-1], r)
    with pytest.raises(InclusionProofError, match="32-byte"):
        merkle.verify_inclusion(LEAF_HASHES[3][:31], 3, 8, proof, r)
    with pytest.raises(InclusionProofError, match="32-byte"):
        merkle.verify_inclusion(LEAF_HASHES[3], 3, 8, [*proof[:-1], b"x"], r)
    with pytest.raises(InclusionProofError, match="non-negative"):
        merkle.verify_inclusion(LEAF_HASHES[3], -1, 8, proof, r)
    merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    with pytest.raises(ConsistencyProofError, match="empty tree"):
        merkle.verify_consistency(0, 8, merkle.EMPTY_ROOT, r, [])
    with pytest.raises(ConsistencyProofError, match="greater"):
        merkle.verify_consistency(8, 7, r, r, [])
    old = merkle.root(LEAF_HASHES[:3])
    cproof = merkle.consistency_proof(LEAF_HASHES, 3)
    with pytest.raises(ConsistencyProofError, match="proof length"):
        merkle.verify_consistency(3, 8, old, r, [*cproof, cproof[0]])
    with pytest.raises(ConsistencyProofError, match="old root"):
        merkle.verify_consistency(3, 8, r, r, cproof)


@pytest.mark.parametrize("n", range(71))
def test_accumulator_matches_root(n: int) -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(n)]
    acc = merkle.MerkleAccumulator()
    acc.extend(hashes)
    assert acc.size == n
    assert len(acc.peaks) == n.bit_count()
    assert acc.root() == merkle.root(hashes)
    restored = merkle.MerkleAccumulator.from_state(acc.size, acc.peaks)
    restored.append(merkle.leaf_hash(b"next"))
    assert restored.root() == merkle.root([*hashes, merkle.leaf_hash(b"next")])


def test_accumulator_rejects_bad_input() -> None:
    acc = merkle.MerkleAccumulator()
    with pytest.raises(MerkleError):
        acc.append(b"short")
    with pytest.raises(MerkleError):
        merkle.MerkleAccumulator.from_state(3, [merkle.EMPTY_ROOT])


def test_large_tree_proofs_are_fast() -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(100_000)]
    tree_root = merkle.root(hashes)
    proof = merkle.inclusion_proof(hashes, 54_321)
    merkle.verify_inclusion(hashes[54_321], 54_321, len(hashes), proof, tree_root)
    cproof = merkle.consistency_proof(hashes, 77_777)
    old_root = merkle.root(hashes[:77_777])
    merkle.verify_consistency(77_777, len(hashes), old_root, tree_root, cproof)


def _tamper(proof: list[bytes], which: int, byte: int) -> list[bytes]:
    i = which % len(proof)
    item = bytearray(proof[i])
    item[byte % len(item)] ^= 0x01
    return [*proof[:i], bytes(item), *proof[i + 1 :]]


@st.composite
def _tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(min_value=1, max_value=200))
    seed = draw(st.binary(min_size=1, max_size=8))
    hashes = [merkle.leaf_hash(seed + i.to_bytes(2, "big")) for i in range(size)]
    return hashes, draw(st.integers(min_value=0, max_value=size - 1))


@settings(max_examples=60, deadline=None)
@given(_tree_and_index(), st.integers(min_value=0), st.integers(min_value=0, max_value=31))
def test_property_inclusion(tree: tuple[list[bytes], int], which: int, byte: int) -> None:
    hashes, index = tree
    size, tree_root = len(hashes), merkle.root(hashes)
    proof = merkle.inclusion_proof(hashes, index)
    merkle.verify_inclusion(hashes[index], index, size, proof, tree_root)
    if proof:
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(
                hashes[index], index, size, _tamper(proof, which, byte), tree_root
            )
    other = (index + 1 + which % size) % size
    if other != index:
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(hashes[index], other, size, proof, tree_root)
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(hashes[index], size + which, size, proof, tree_root)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=200),
    st.integers(min_value=0),
    st.integers(min_value=0),
    st.integers(min_value=0, max_value=31),
)
def test_property_consistency(new_size: int, pick: int, which: int, byte: int) -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(new_size)]
    old_size = 1 + pick % new_size
    old_root, new_root = merkle.root(hashes[:old_size]), merkle.root(hashes)
    proof = merkle.consistency_proof(hashes, old_size)
    merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    if proof:
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(
                old_size, new_size, old_root, new_root, _tamper(proof, which, byte)
            )
    if old_size < new_size:
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(old_size, new_size, new_root, new_root, proof)
