"""Ledger block header and leaf format (protocol.block)."""

from __future__ import annotations

import hashlib

import pytest

from protocol import keys
from protocol.block import (
    GENESIS_PREV,
    KIND,
    MAX_BYTES,
    leaf_data,
    parse_block,
    parse_leaf,
    sign_block,
)
from protocol.encoding import encode
from protocol.errors import (
    MalformedError,
    OversizeError,
    ProtocolError,
    SignatureError,
    TruncatedError,
    UnsupportedVersionError,
    WrongTypeError,
)
from protocol.receipt import ReceiptEntry, sign_receipt
from tests.unit.wire_checks import (
    SignedMap,
    assert_every_flip_refused,
    assert_every_truncation_refused,
    assert_indefinite_length_refused,
    assert_keys_out_of_order_refused,
    assert_replacement_refused,
    assert_trailing_bytes_refused,
    every_flip,
    seeded,
)

LEDGER = seeded("block-ledger")
OTHER_LEDGER = seeded("block-other-ledger")
NOW_MS = 1_764_000_000_000
ORIGIN = "safecode.example/ledger"
ROOT0 = hashlib.sha256(b"root0").digest()
ROOT1 = hashlib.sha256(b"root1").digest()
GENESIS_ARGS = {
    "origin": ORIGIN,
    "height": 0,
    "prev": GENESIS_PREV,
    "first_leaf": 0,
    "leaf_count": 3,
    "tree_size": 3,
    "root": ROOT0,
    "sealed_ms": NOW_MS,
}
GENESIS = sign_block(LEDGER, **GENESIS_ARGS)
CHECKIN_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
COMMIT = hashlib.sha256(b"a signed check-in").digest()
LEAF = leaf_data(CHECKIN_ID, COMMIT)

BLOCK_FORM = SignedMap(GENESIS, MAX_BYTES, LEDGER, KIND, parse_block)
body = BLOCK_FORM.body
reseal = BLOCK_FORM.reseal
parse_and_verify = BLOCK_FORM.parse_and_verify


# --- block header round trip ---------------------------------------------------------------


def test_round_trip():
    header = parse_and_verify(GENESIS)
    for name, value in GENESIS_ARGS.items():
        assert getattr(header, name) == value, name
    assert header.wire == GENESIS
    assert header.block_hash == hashlib.sha256(GENESIS).digest()
    assert len(header.signature) == 64
    assert header.signed_bytes == encode(body())
    keys.verify(LEDGER.public_key(), "block", header.signed_bytes, header.signature)


def test_genesis_links_to_zero_bytes():
    assert GENESIS_PREV == b"\x00" * 32
    assert parse_block(GENESIS).prev == GENESIS_PREV


def test_chain_links_by_header_hash():
    first = parse_block(GENESIS)
    second_wire = sign_block(
        LEDGER,
        origin=ORIGIN,
        height=1,
        prev=first.block_hash,
        first_leaf=3,
        leaf_count=2,
        tree_size=5,
        root=ROOT1,
        sealed_ms=NOW_MS + 1000,
    )
    second = parse_and_verify(second_wire)
    assert second.prev == first.block_hash
    assert second.first_leaf == first.tree_size
    assert second.block_hash != first.block_hash


def test_empty_block_and_extreme_values():
    header = parse_and_verify(
        sign_block(
            LEDGER,
            origin="a" * 128,
            height=2**63 - 1,
            prev=b"\xff" * 32,
            first_leaf=2**63 - 1,
            leaf_count=0,
            tree_size=2**63 - 1,
            root=b"\xff" * 32,
            sealed_ms=2**63 - 1,
        )
    )
    assert header.leaf_count == 0
    assert header.height == 2**63 - 1


@pytest.mark.parametrize(
    "origin", ["a", "safecode.example/ledger", "Log-1_2.3", "0", "x/y/z", "A" * 128]
)
def test_good_origins(origin):
    assert parse_block(sign_block(LEDGER, **{**GENESIS_ARGS, "origin": origin})).origin == origin


# --- block header signatures -------------------------------------------------------------------


def test_signed_by_another_key():
    header = parse_block(sign_block(OTHER_LEDGER, **GENESIS_ARGS))
    with pytest.raises(SignatureError) as info:
        header.verify(LEDGER.public_key())
    assert info.type is SignatureError


def test_signature_under_another_label_is_refused():
    with pytest.raises(SignatureError):
        parse_and_verify(reseal(body(), label="receipt"))


def test_every_byte_flip_is_refused():
    assert_every_flip_refused(GENESIS, parse_and_verify, error=ProtocolError)


def test_every_truncation_is_refused():
    assert_every_truncation_refused(GENESIS, parse_block, error=TruncatedError)


@pytest.mark.parametrize("extra", [b"\x00", b"\xff", GENESIS[:3]])
def test_trailing_bytes_are_refused(extra):
    assert_trailing_bytes_refused(GENESIS, parse_block, extra, error=MalformedError)


def test_non_shortest_int_is_refused():
    assert_replacement_refused(
        GENESIS, parse_block, b"\x66height\x00", b"\x66height\x18\x00", match="canonical"
    )


def test_indefinite_map_is_refused():
    assert_indefinite_length_refused(GENESIS, parse_block, head=0xAB)


def test_keys_out_of_order_are_refused():
    assert_keys_out_of_order_refused(GENESIS, parse_block, MAX_BYTES)


# --- block header version, type, size, fields ----------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, True, "1", None])
def test_wrong_version(version):
    with pytest.raises(UnsupportedVersionError):
        parse_block(reseal(body(v=version)))


def test_receipt_parsed_as_block_is_wrong_type():
    receipt = sign_receipt(
        LEDGER,
        kiosk_id="k1",
        entries=[ReceiptEntry(CHECKIN_ID, 1, 0)],
        block=0,
        tree_size=3,
        root=ROOT0,
        issued_ms=NOW_MS,
    )
    with pytest.raises(WrongTypeError):
        parse_block(receipt)


@pytest.mark.parametrize("kind", ["receipt", "checkin", "Block", "checkpoint"])
def test_wrong_type(kind):
    with pytest.raises(WrongTypeError):
        parse_block(reseal(body(type=kind), label=kind))


def test_oversize():
    assert MAX_BYTES == 512
    with pytest.raises(OversizeError):
        parse_block(GENESIS + b"\x00" * (MAX_BYTES + 1 - len(GENESIS)))


@pytest.mark.parametrize(
    "name",
    ["origin", "height", "prev", "first_leaf", "leaf_count", "tree_size", "root", "sealed_ms"],
)
def test_missing_field(name):
    with pytest.raises(MalformedError, match="lacks"):
        parse_block(reseal(body(**{name: None})))


def test_unknown_field():
    with pytest.raises(MalformedError, match="unknown"):
        parse_block(reseal({**body(), "note": "x"}))


@pytest.mark.parametrize(
    "changes",
    [
        {"height": True},
        {"first_leaf": False, "leaf_count": 3},
        {"sealed_ms": True},
        {"height": -1},
        {"height": 2**63},
        {"prev": b"\x00" * 31},
        {"prev": b"\x00" * 33},
        {"root": b""},
        {"root": "00" * 32},
        {"origin": ""},
        {"origin": "-log"},
        {"origin": ".log"},
        {"origin": "log with space"},
        {"origin": "log\n"},
        {"origin": "a" * 129},
        {"origin": "caf\u00e9"},
        {"origin": b"log"},
        # Inconsistent leaf range, even though signed.
        {"leaf_count": 2},
        {"tree_size": 4},
        {"first_leaf": 1},
    ],
)
def test_bad_field_values(changes):
    with pytest.raises(MalformedError) as info:
        parse_block(reseal(body(**changes)))
    assert info.type is MalformedError


@pytest.mark.parametrize(
    "changes",
    [
        {"tree_size": 4},
        {"leaf_count": -1, "tree_size": -1},
        {"origin": " log"},
        {"prev": b"\x00" * 16},
        {"height": True},
    ],
)
def test_sign_block_refuses_bad_fields(changes):
    with pytest.raises(MalformedError):
        sign_block(LEDGER, **{**GENESIS_ARGS, **changes})


def test_sign_block_refuses_missing_and_extra_fields():
    args = dict(GENESIS_ARGS)
    del args["root"]
    with pytest.raises(MalformedError, match="lacks"):
        sign_block(LEDGER, **args)
    with pytest.raises(MalformedError, match="unknown"):
        sign_block(LEDGER, **GENESIS_ARGS, extra=1)


# --- leaf ----------------------------------------------------------------------------------------


def test_leaf_round_trip():
    assert parse_leaf(LEAF) == (CHECKIN_ID, COMMIT)


def test_leaf_exact_bytes():
    expected = (
        "a3"
        + "6176"
        + "01"  # "v": 1
        + "626964"
        + "50"
        + CHECKIN_ID.hex()  # "id": 16 bytes
        + "66636f6d6d6974"
        + "5820"
        + COMMIT.hex()  # "commit": 32 bytes
    )
    assert LEAF.hex() == expected
    assert encode({"v": 1, "id": CHECKIN_ID, "commit": COMMIT}) == LEAF
    assert len(LEAF) == 65


@pytest.mark.parametrize(
    "checkin_id, commit",
    [
        (b"\x00" * 15, COMMIT),
        (b"\x00" * 17, COMMIT),
        (CHECKIN_ID, b"\x00" * 31),
        (CHECKIN_ID, b"\x00" * 33),
        ("0" * 16, COMMIT),
        (CHECKIN_ID, COMMIT.hex()),
    ],
)
def test_leaf_data_refuses_bad_sizes(checkin_id, commit):
    with pytest.raises(MalformedError):
        leaf_data(checkin_id, commit)


def test_every_leaf_truncation_is_refused():
    assert_every_truncation_refused(LEAF, parse_leaf, error=TruncatedError)


def test_leaf_trailing_bytes_are_refused():
    assert_trailing_bytes_refused(LEAF, parse_leaf, b"\x00", error=MalformedError)


def test_leaf_oversize():
    with pytest.raises(OversizeError):
        parse_leaf(LEAF + b"\x00" * (129 - len(LEAF)))


def test_every_leaf_byte_flip_is_refused_or_changes_the_content():
    # A leaf is not signed: a flip may give another valid leaf, never the same content.
    # Byte 3 is the version; v=0 is covered by test_leaf_version_zero_is_refused.
    assert LEAF[3] == 1
    for i, bad in every_flip(LEAF):
        if i == 3:
            continue
        try:
            parsed = parse_leaf(bad)
        except ProtocolError:
            continue
        assert parsed != (CHECKIN_ID, COMMIT)
        assert 8 <= i < 24 or i >= len(LEAF) - 32  # only inside the id or commit bytes


def test_leaf_non_canonical_forms_are_refused():
    assert_replacement_refused(LEAF, parse_leaf, b"\x61v\x01", b"\x61v\x18\x01", match=None)
    assert_indefinite_length_refused(LEAF, parse_leaf, head=0xA3)
    # Keys in the order commit, id, v.
    assert_keys_out_of_order_refused(LEAF, parse_leaf, MAX_BYTES)


@pytest.mark.parametrize(
    "value",
    [
        {"v": 1, "id": CHECKIN_ID},
        {"v": 1, "commit": COMMIT},
        {"id": CHECKIN_ID, "commit": COMMIT},
        {"v": 1, "id": CHECKIN_ID, "commit": COMMIT, "x": 0},
        {"v": True, "id": CHECKIN_ID, "commit": COMMIT},
        {"v": 1, "id": CHECKIN_ID[:-1], "commit": COMMIT},
        {"v": 1, "id": CHECKIN_ID, "commit": COMMIT + b"\x00"},
        [1, CHECKIN_ID, COMMIT],
        CHECKIN_ID + COMMIT,
    ],
)
def test_bad_leaves_are_malformed(value):
    with pytest.raises(MalformedError):
        parse_leaf(encode(value))


def test_leaf_version_zero_is_refused():
    with pytest.raises(ProtocolError):
        parse_leaf(encode({"v": 0, "id": CHECKIN_ID, "commit": COMMIT}))


@pytest.mark.parametrize("version", [0, 2])
def test_leaf_wrong_version_is_unsupported(version):
    with pytest.raises(UnsupportedVersionError):
        parse_leaf(encode({"v": version, "id": CHECKIN_ID, "commit": COMMIT}))
