"""Receipt: the aggregator's signed word that check-ins are sealed (protocol.receipt)."""

from __future__ import annotations

import hashlib

import pytest

from protocol import keys
from protocol.checkin import ClockState, sign_checkin
from protocol.encoding import decode, encode
from protocol.errors import (
    MalformedError,
    OversizeError,
    ProtocolError,
    SignatureError,
    TruncatedError,
    UnsupportedVersionError,
    WrongTypeError,
)
from protocol.receipt import (
    KIND,
    MAX_BYTES,
    MAX_ENTRIES,
    ReceiptEntry,
    parse_receipt,
    sign_receipt,
)
from tests.unit.wire_checks import (
    SignedMap,
    assert_every_flip_refused,
    assert_every_truncation_refused,
    assert_keys_out_of_order_refused,
    assert_replacement_refused,
    assert_trailing_bytes_refused,
    seeded,
)

LEDGER = seeded("receipt-ledger")
OTHER_LEDGER = seeded("receipt-other-ledger")
DEVICE = seeded("receipt-device")
NOW_MS = 1_764_000_000_000
ROOT = hashlib.sha256(b"root").digest()
ENTRIES = [ReceiptEntry(bytes([i]) * 16, seq=100 + i, leaf_index=5000 + i) for i in range(3)]
ARGS = {
    "kiosk_id": "kiosk-0042",
    "entries": ENTRIES,
    "block": 12,
    "tree_size": 5003,
    "root": ROOT,
    "issued_ms": NOW_MS,
}
WIRE = sign_receipt(LEDGER, **ARGS)

RECEIPT_FORM = SignedMap(WIRE, MAX_BYTES, LEDGER, KIND, parse_receipt)
body = RECEIPT_FORM.body
reseal = RECEIPT_FORM.reseal
parse_and_verify = RECEIPT_FORM.parse_and_verify


# --- round trip --------------------------------------------------------------------------------


def test_round_trip():
    receipt = parse_and_verify(WIRE)
    assert receipt.kiosk_id == "kiosk-0042"
    assert receipt.entries == tuple(ENTRIES)
    assert receipt.entries[1] == ReceiptEntry(b"\x01" * 16, 101, 5001)
    assert receipt.block == 12
    assert receipt.tree_size == 5003
    assert receipt.root == ROOT
    assert receipt.issued_ms == NOW_MS
    assert len(receipt.signature) == 64


def test_wire_layout():
    value = decode(WIRE, max_size=MAX_BYTES, what="test")
    assert value["v"] == 1
    assert value["type"] == "receipt"
    assert value["entries"] == [[e.checkin_id, e.seq, e.leaf_index] for e in ENTRIES]
    assert set(value) == {
        "v", "type", "kiosk", "entries", "block", "tree_size", "root", "issued_ms", "sig"
    }  # fmt: skip
    receipt = parse_receipt(WIRE)
    assert receipt.signed_bytes == encode(body())
    keys.verify(LEDGER.public_key(), "receipt", receipt.signed_bytes, receipt.signature)


def test_maximum_entries_fit_the_size_limit():
    big = [ReceiptEntry(b"\xff" * 16, 2**63 - 1, 2**63 - 1)] * MAX_ENTRIES
    data = sign_receipt(LEDGER, **{**ARGS, "entries": big, "kiosk_id": "k" * 63})
    assert len(data) <= MAX_BYTES
    receipt = parse_and_verify(data)
    assert len(receipt.entries) == MAX_ENTRIES == 5000


def test_too_many_entries():
    many = [[b"\x00" * 16, 1, 1]] * (MAX_ENTRIES + 1)
    with pytest.raises(MalformedError):
        parse_receipt(reseal(body(entries=many)))


# --- signatures ----------------------------------------------------------------------------------


def test_signed_by_another_key():
    receipt = parse_receipt(sign_receipt(OTHER_LEDGER, **ARGS))
    with pytest.raises(SignatureError) as info:
        receipt.verify(LEDGER.public_key())
    assert info.type is SignatureError


def test_kiosk_device_key_cannot_forge_a_receipt():
    with pytest.raises(SignatureError):
        parse_and_verify(reseal(body(), DEVICE))


def test_signature_under_another_label_is_refused():
    with pytest.raises(SignatureError):
        parse_and_verify(reseal(body(), LEDGER, label="block"))


def test_every_byte_flip_is_refused():
    assert_every_flip_refused(WIRE, parse_and_verify, error=ProtocolError)


# --- truncation, trailing bytes, canonical form ------------------------------------------------


def test_every_truncation_is_refused():
    assert_every_truncation_refused(WIRE, parse_receipt, error=TruncatedError)


@pytest.mark.parametrize("extra", [b"\x00", b"\xff", WIRE[:5]])
def test_trailing_bytes_are_refused(extra):
    assert_trailing_bytes_refused(WIRE, parse_receipt, extra, error=MalformedError)


def test_non_shortest_int_is_refused():
    assert_replacement_refused(
        WIRE, parse_receipt, b"\x65block\x0c", b"\x65block\x19\x00\x0c", match="canonical"
    )


def test_indefinite_entries_array_is_refused():
    assert WIRE.count(b"\x67entries\x83") == 1
    head, tail = WIRE.split(b"\x67entries\x83")
    entries_len = len(encode(body()["entries"])) - 1
    sloppy = head + b"\x67entries\x9f" + tail[:entries_len] + b"\xff" + tail[entries_len:]
    with pytest.raises(MalformedError):
        parse_receipt(sloppy)


def test_keys_out_of_order_are_refused():
    assert_keys_out_of_order_refused(WIRE, parse_receipt, MAX_BYTES)


# --- version, type, size, fields ---------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, True, None])
def test_wrong_version(version):
    with pytest.raises(UnsupportedVersionError):
        parse_receipt(reseal(body(v=version)))


def test_checkin_parsed_as_receipt_is_wrong_type():
    checkin = sign_checkin(
        DEVICE,
        checkin_id=b"\x00" * 16,
        kiosk_id="kiosk-0042",
        venue_id="venue",
        seq=1,
        door="both",
        scanned_ms=NOW_MS,
        clock=ClockState(True, b"\x00" * 16, 1),
        presentation=b"\x00",
    )
    with pytest.raises(WrongTypeError):
        parse_receipt(checkin)


@pytest.mark.parametrize("kind", ["checkin", "block", "Receipt", "receipts"])
def test_wrong_type(kind):
    with pytest.raises(WrongTypeError):
        parse_receipt(reseal(body(type=kind), label=kind))


def test_oversize():
    assert MAX_BYTES == 64 + 5000 * 48 + 256
    with pytest.raises(OversizeError):
        parse_receipt(WIRE + b"\x00" * (MAX_BYTES + 1 - len(WIRE)))


@pytest.mark.parametrize("name", ["kiosk", "entries", "block", "tree_size", "root", "issued_ms"])
def test_missing_field(name):
    with pytest.raises(MalformedError, match="lacks"):
        parse_receipt(reseal(body(**{name: None})))


def test_unknown_field():
    with pytest.raises(MalformedError, match="unknown"):
        parse_receipt(reseal({**body(), "extra": 1}))


@pytest.mark.parametrize(
    "changes",
    [
        {"entries": []},
        {"entries": [[b"\x00" * 16, 1]]},
        {"entries": [[b"\x00" * 16, 1, 2, 3]]},
        {"entries": [[b"\x00" * 15, 1, 2]]},
        {"entries": [[b"\x00" * 16, True, 2]]},
        {"entries": [[b"\x00" * 16, 1, False]]},
        {"entries": [[b"\x00" * 16, -1, 2]]},
        {"entries": [[b"\x00" * 16, 1, 2**63]]},
        {"entries": [{"id": b"\x00" * 16, "seq": 1, "leaf": 2}]},
        {"entries": [b"\x00" * 16]},
        {"entries": {"a": 1}},
        {"block": True},
        {"tree_size": False},
        {"issued_ms": -5},
        {"block": "12"},
        {"root": b"\x00" * 31},
        {"root": b"\x00" * 33},
        {"root": "00" * 32},
        {"kiosk": "KIOSK"},
        {"kiosk": "k" * 64},
        {"kiosk": "+"},
        {"kiosk": 42},
    ],
)
def test_bad_field_values(changes):
    with pytest.raises(MalformedError) as info:
        parse_receipt(reseal(body(**changes)))
    assert info.type is MalformedError


@pytest.mark.parametrize("value", [[], "receipt", 7, None])
def test_not_a_map(value):
    with pytest.raises(MalformedError):
        parse_receipt(encode(value))


@pytest.mark.parametrize(
    "changes",
    [
        {"entries": []},
        {"kiosk_id": "Not A Kiosk"},
        {"root": b"\x00" * 31},
        {"block": -1},
        {"entries": [ReceiptEntry(b"\x00" * 15, 1, 1)]},
    ],
)
def test_sign_receipt_refuses_what_a_verifier_would_refuse(changes):
    with pytest.raises(MalformedError):
        sign_receipt(LEDGER, **{**ARGS, **changes})
