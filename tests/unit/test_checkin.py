"""Check-in record: a kiosk's signed scan (protocol.checkin, protocol.signed)."""

from __future__ import annotations

import hashlib

import pytest

from protocol import keys
from protocol.checkin import (
    BOOT_ID_SIZE,
    CHECKIN_ID_SIZE,
    DOORS,
    KIND,
    MAX_BYTES,
    SEQ_MAX,
    ClockState,
    parse_checkin,
    sign_checkin,
)
from protocol.credential import issue_credential
from protocol.encoding import decode, encode
from protocol.errors import (
    MalformedError,
    OutOfRangeError,
    OversizeError,
    ProtocolError,
    SignatureError,
    TruncatedError,
    UnsupportedVersionError,
    WrongTypeError,
)
from protocol.presentation import present
from protocol.receipt import ReceiptEntry, sign_receipt
from protocol.schema import TIME_MS_MAX
from tests.unit.wire_checks import (
    SignedMap,
    assert_every_flip_refused,
    assert_every_truncation_refused,
    assert_indefinite_length_refused,
    assert_keys_out_of_order_refused,
    assert_replacement_refused,
    assert_trailing_bytes_refused,
    flipped,
    seeded,
)

ISSUER = seeded("checkin-issuer")
WALLET = seeded("checkin-wallet")
DEVICE = seeded("checkin-device")
OTHER_DEVICE = seeded("checkin-other-device")
LEDGER = seeded("checkin-ledger")
NOW = 1_764_000_000

CRED = issue_credential(
    ISSUER, keys.public_bytes(WALLET), not_before=NOW - 86_400, not_after=NOW + 86_400
)
PRES = present(WALLET, CRED, now=NOW)
CLOCK = ClockState(synced=True, boot_id=bytes(range(16)), monotonic_ms=123_456_789)
ARGS = {
    "checkin_id": bytes.fromhex("00112233445566778899aabbccddeeff"),
    "kiosk_id": "kiosk-0042",
    "venue_id": "cafe-jeju-7",
    "seq": 7,
    "door": "entrance",
    "scanned_ms": NOW * 1000 + 250,
    "clock": CLOCK,
    "presentation": PRES.to_bytes(),
}
WIRE = sign_checkin(DEVICE, **ARGS)

CHECKIN_FORM = SignedMap(WIRE, MAX_BYTES, DEVICE, KIND, parse_checkin)
body = CHECKIN_FORM.body  # WIRE's map without its signature, with changes (None deletes)
reseal = CHECKIN_FORM.reseal  # signs any map as a kiosk would, bypassing sign_checkin
parse_and_verify = CHECKIN_FORM.parse_and_verify


# --- round trip -----------------------------------------------------------------------------


def test_round_trip():
    record = parse_and_verify(WIRE)
    assert record.checkin_id == ARGS["checkin_id"]
    assert record.kiosk_id == "kiosk-0042"
    assert record.venue_id == "cafe-jeju-7"
    assert record.seq == 7
    assert record.door == "entrance"
    assert record.scanned_ms == NOW * 1000 + 250
    assert record.clock == CLOCK
    assert record.presentation == PRES.to_bytes()
    assert record.wire == WIRE
    assert record.digest == hashlib.sha256(WIRE).digest()
    assert len(record.signature) == 64


def test_wire_layout_and_signed_bytes():
    value = decode(WIRE, max_size=MAX_BYTES, what="test")
    assert set(value) == {
        "v",
        "type",
        "id",
        "kiosk",
        "venue",
        "seq",
        "door",
        "scanned_ms",
        "clock",
        "presentation",
        "sig",
    }
    assert value["v"] == 1
    assert value["type"] == "checkin"
    assert value["clock"] == {"synced": True, "boot": bytes(range(16)), "mono_ms": 123_456_789}
    record = parse_checkin(WIRE)
    assert record.signed_bytes == encode(body())
    keys.verify(DEVICE.public_key(), "checkin", record.signed_bytes, record.signature)
    assert encode(value) == WIRE


def test_size_is_well_under_the_limit():
    assert len(WIRE) < MAX_BYTES // 2


def test_presentation_inside_is_intact_and_verifies():
    record = parse_checkin(WIRE)
    inner = record.parsed_presentation()
    assert inner == PRES
    inner.verify([ISSUER.public_key()], now=NOW)


@pytest.mark.parametrize("door", DOORS)
def test_every_door(door):
    assert parse_and_verify(sign_checkin(DEVICE, **{**ARGS, "door": door})).door == door


def test_unsynced_clock_and_extreme_values():
    args = {
        **ARGS,
        "clock": ClockState(False, b"\xff" * BOOT_ID_SIZE, TIME_MS_MAX),
        "seq": SEQ_MAX,
        "scanned_ms": 0,
        "kiosk_id": "k" * 63,
        "venue_id": "0",
    }
    record = parse_and_verify(sign_checkin(DEVICE, **args))
    assert record.clock == ClockState(False, b"\xff" * 16, TIME_MS_MAX)
    assert record.seq == SEQ_MAX
    assert record.kiosk_id == "k" * 63


def test_digest_differs_per_record():
    other = sign_checkin(DEVICE, **{**ARGS, "seq": 8})
    assert parse_checkin(other).digest != parse_checkin(WIRE).digest


# --- signatures -------------------------------------------------------------------------------


def test_signed_by_another_device():
    record = parse_checkin(sign_checkin(OTHER_DEVICE, **ARGS))
    with pytest.raises(SignatureError) as info:
        record.verify(DEVICE.public_key())
    assert info.type is SignatureError


def test_signature_under_another_label_is_refused():
    data = reseal(body(), DEVICE, label="receipt")
    record = parse_checkin(data)
    with pytest.raises(SignatureError):
        record.verify(DEVICE.public_key())


def test_swapped_signature_is_refused():
    other = decode(sign_checkin(DEVICE, **{**ARGS, "seq": 8}), max_size=MAX_BYTES, what="t")
    spliced = encode({**body(), "sig": other["sig"]})
    with pytest.raises(SignatureError):
        parse_and_verify(spliced)


def test_every_byte_flip_is_refused():
    assert_every_flip_refused(WIRE, parse_and_verify, error=ProtocolError)


def test_flips_inside_the_signature_are_signature_errors():
    start = WIRE.index(b"\x63sig\x58\x40") + 6
    for i in range(start, start + 64):
        record = parse_checkin(flipped(WIRE, i, 0x04))
        with pytest.raises(SignatureError):
            record.verify(DEVICE.public_key())


# --- truncation, trailing bytes, canonical form ------------------------------------------------


def test_every_truncation_is_refused():
    assert_every_truncation_refused(WIRE, parse_checkin, error=TruncatedError)


@pytest.mark.parametrize("extra", [b"\x00", b"\xa0", b"\xff", WIRE[:8]])
def test_trailing_bytes_are_refused(extra):
    assert_trailing_bytes_refused(WIRE, parse_checkin, extra, error=MalformedError)


def test_non_shortest_int_is_refused():
    assert_replacement_refused(
        WIRE, parse_checkin, b"\x63seq\x07", b"\x63seq\x18\x07", match="canonical"
    )


def test_non_shortest_key_length_is_refused():
    assert_replacement_refused(WIRE, parse_checkin, b"\x63seq", b"\x78\x03seq", match="canonical")


def test_indefinite_length_map_is_refused():
    assert_indefinite_length_refused(WIRE, parse_checkin, head=0xAB)  # map of 11 entries


def test_keys_out_of_order_are_refused_even_with_a_valid_signature():
    assert_keys_out_of_order_refused(WIRE, parse_checkin, MAX_BYTES)


# --- version, type, size, fields ---------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 2, 255, True, "1", None, b"\x01"])
def test_wrong_version(version):
    with pytest.raises(UnsupportedVersionError):
        parse_checkin(reseal(body(v=version)))


def test_missing_version():
    with pytest.raises(UnsupportedVersionError):
        parse_checkin(reseal(body(v=None)))


@pytest.mark.parametrize("kind", ["receipt", "block", "Checkin", "checkin ", b"checkin", 1])
def test_wrong_type(kind):
    with pytest.raises(WrongTypeError):
        parse_checkin(reseal(body(type=kind), label=str(kind)))


def test_missing_type():
    with pytest.raises(WrongTypeError):
        parse_checkin(reseal(body(type=None)))


def test_receipt_parsed_as_checkin_is_wrong_type():
    receipt = sign_receipt(
        LEDGER,
        kiosk_id="kiosk-0042",
        entries=[ReceiptEntry(ARGS["checkin_id"], 7, 0)],
        block=0,
        tree_size=1,
        root=bytes(32),
        issued_ms=NOW * 1000,
    )
    with pytest.raises(WrongTypeError):
        parse_checkin(receipt)


def test_oversize():
    with pytest.raises(OversizeError):
        parse_checkin(WIRE + b"\x00" * (MAX_BYTES + 1 - len(WIRE)))
    with pytest.raises(OversizeError):
        parse_checkin(b"\x00" * 100_000)


def test_exactly_max_bytes_is_not_oversize():
    with pytest.raises(MalformedError):  # garbage, but not refused for its size
        parse_checkin(WIRE + b"\x00" * (MAX_BYTES - len(WIRE)))


@pytest.mark.parametrize(
    "name", ["id", "kiosk", "venue", "seq", "door", "scanned_ms", "clock", "presentation"]
)
def test_missing_field(name):
    with pytest.raises(MalformedError, match="lacks"):
        parse_checkin(reseal(body(**{name: None})))


def test_missing_signature():
    with pytest.raises(MalformedError, match="lacks"):
        parse_checkin(encode(body()))


@pytest.mark.parametrize("extra", [{"note": "hi"}, {"Seq": 1}, {"x": None}])
def test_unknown_field(extra):
    value = {**body(), **extra}
    with pytest.raises(MalformedError, match="unknown"):
        parse_checkin(reseal(value))


def test_unknown_non_text_key():
    value = body()
    value[1] = 1
    with pytest.raises(MalformedError, match="unknown|map key"):
        parse_checkin(reseal(value))


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": True},
        {"seq": False},
        {"scanned_ms": True},
        {"seq": "7"},
        {"id": b"\x00" * 15},
        {"id": b"\x00" * 17},
        {"id": "0" * 16},
        {"kiosk": "Kiosk-1"},
        {"kiosk": "-kiosk"},
        {"kiosk": "k" * 64},
        {"kiosk": ""},
        {"kiosk": "kiosk/1"},
        {"kiosk": "kiosk+"},
        {"kiosk": "kiosk\n"},
        {"kiosk": b"kiosk"},
        {"venue": "Caf\u00e9"},
        {"venue": ""},
        {"door": "side"},
        {"door": "Entrance"},
        {"door": 1},
        {"presentation": "SC1:..."},
        {"presentation": b"\x00" * 257},
        {"clock": {"synced": 1, "boot": bytes(16), "mono_ms": 0}},
        {"clock": {"synced": True, "boot": bytes(16), "mono_ms": True}},
        {"clock": {"synced": True, "boot": bytes(15), "mono_ms": 0}},
        {"clock": {"synced": True, "boot": bytes(16)}},
        {"clock": {"synced": True, "boot": bytes(16), "mono_ms": 0, "tz": "UTC"}},
        {"clock": [True, bytes(16), 0]},
        {"clock": True},
    ],
)
def test_bad_field_values(changes):
    with pytest.raises(MalformedError) as info:
        parse_checkin(reseal(body(**changes)))
    assert info.type is MalformedError


@pytest.mark.parametrize(
    "changes",
    [
        {"seq": -1},
        {"seq": 0},
        {"seq": 2**63},
        {"seq": SEQ_MAX + 1},
        {"scanned_ms": TIME_MS_MAX + 1},
        {"clock": {"synced": True, "boot": bytes(16), "mono_ms": TIME_MS_MAX + 1}},
    ],
)
def test_integers_out_of_range(changes):
    with pytest.raises(OutOfRangeError) as info:
        parse_checkin(reseal(body(**changes)))
    assert info.type is OutOfRangeError and info.value.reason == "out_of_range"


@pytest.mark.parametrize("value", [[], [1, 2], "checkin", 0, None, {}])
def test_not_a_map(value):
    with pytest.raises(ProtocolError):
        parse_checkin(encode(value))


def test_map_without_anything_is_unsupported_version():
    with pytest.raises(UnsupportedVersionError):
        parse_checkin(encode({}))


def test_presentation_bytes_are_only_checked_when_parsed():
    # The record carries the presentation as opaque bytes; a garbled one is caught later.
    record = parse_and_verify(
        sign_checkin(DEVICE, **{**ARGS, "presentation": PRES.to_bytes()[:-1]})
    )
    with pytest.raises(TruncatedError):
        record.parsed_presentation()


# --- signing refuses what a verifier would refuse ------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"kiosk_id": "Kiosk"},
        {"venue_id": "venue id"},
        {"door": "window"},
        {"seq": -1},
        {"seq": True},
        {"scanned_ms": 2**63},
        {"checkin_id": b"\x00" * (CHECKIN_ID_SIZE - 1)},
        {"presentation": b"\x00" * 257},
        {"clock": ClockState(True, b"\x00" * 15, 0)},
        {"clock": ClockState(1, b"\x00" * 16, 0)},
    ],
)
def test_sign_checkin_refuses_bad_fields(changes):
    with pytest.raises(MalformedError):
        sign_checkin(DEVICE, **{**ARGS, **changes})
