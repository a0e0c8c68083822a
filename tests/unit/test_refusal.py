"""Refusals: the aggregator's signed word that check-ins will never be sealed (protocol.receipt)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import keys
from protocol.block import sign_block
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
    REASON_PATTERN,
    REFUSAL_KIND,
    Receipt,
    ReceiptEntry,
    Refusal,
    RefusalEntry,
    parse_answer,
    parse_receipt,
    parse_refusal,
    sign_receipt,
    sign_refusal,
)
from protocol.signed import seal
from tests.unit.wire_checks import (
    SignedMap,
    assert_every_flip_refused,
    assert_every_truncation_refused,
    seeded,
)

LEDGER = seeded("refusal-ledger")
OTHER_LEDGER = seeded("refusal-other-ledger")
DEVICE = seeded("refusal-device")
NOW_MS = 1_764_000_000_000
KIOSK = "kiosk-0042"
ENTRIES = [
    RefusalEntry(bytes([1]) * 16, 7, "replayed"),
    RefusalEntry(bytes([2]) * 16, 9, "venue_mismatch"),
]
WIRE = sign_refusal(LEDGER, kiosk_id=KIOSK, entries=ENTRIES, issued_ms=NOW_MS)
RECEIPT_WIRE = sign_receipt(
    LEDGER,
    kiosk_id=KIOSK,
    entries=[ReceiptEntry(bytes([3]) * 16, 11, 40)],
    block=4,
    tree_size=41,
    root=hashlib.sha256(b"root").digest(),
    issued_ms=NOW_MS,
)
CHECKIN_WIRE = sign_checkin(
    DEVICE,
    checkin_id=bytes(16),
    kiosk_id=KIOSK,
    venue_id="venue-1",
    seq=1,
    door="both",
    scanned_ms=NOW_MS,
    clock=ClockState(True, bytes(16), 1),
    presentation=b"\x00",
)
BLOCK_WIRE = sign_block(
    LEDGER,
    origin="ledger.example/log",
    height=1,
    prev=bytes(32),
    first_leaf=0,
    leaf_count=1,
    tree_size=1,
    root=bytes(32),
    sealed_ms=NOW_MS,
)


def fields(**changes: Any) -> dict[str, Any]:
    """The refusal's own fields (no v, type or sig), with changes applied."""
    base: dict[str, Any] = {
        "kiosk": KIOSK,
        "entries": [[e.checkin_id, e.seq, e.reason] for e in ENTRIES],
        "issued_ms": NOW_MS,
    }
    base.update(changes)
    return base


REFUSAL_FORM = SignedMap(WIRE, 10_000, LEDGER, REFUSAL_KIND, parse_refusal)
parse_and_verify = REFUSAL_FORM.parse_and_verify


# --- round trip ------------------------------------------------------------------------------


def test_round_trip_verifies_with_the_ledger_key() -> None:
    refusal = parse_and_verify(WIRE)
    assert refusal.kiosk_id == KIOSK
    assert refusal.entries == tuple(ENTRIES)
    assert refusal.entries[1] == RefusalEntry(b"\x02" * 16, 9, "venue_mismatch")
    assert refusal.issued_ms == NOW_MS
    assert len(refusal.signature) == 64


def test_wire_layout_and_signed_bytes() -> None:
    value = decode(WIRE, max_size=10_000, what="test")
    assert value["v"] == 1
    assert value["type"] == REFUSAL_KIND == "refusal"
    assert set(value) == {"v", "type", "kiosk", "entries", "issued_ms", "sig"}
    refusal = parse_refusal(WIRE)
    assert refusal.signed_bytes == encode({k: v for k, v in value.items() if k != "sig"})
    keys.verify(LEDGER.public_key(), "refusal", refusal.signed_bytes, refusal.signature)


def test_signed_by_another_key_is_refused() -> None:
    refusal = parse_refusal(
        sign_refusal(OTHER_LEDGER, kiosk_id=KIOSK, entries=ENTRIES, issued_ms=1)
    )
    refusal.verify(OTHER_LEDGER.public_key())
    with pytest.raises(SignatureError) as info:
        refusal.verify(LEDGER.public_key())
    assert info.type is SignatureError
    with pytest.raises(SignatureError):
        parse_refusal(WIRE).verify(OTHER_LEDGER.public_key())


def test_kiosk_device_key_cannot_forge_a_refusal() -> None:
    forged = seal(REFUSAL_KIND, fields(), DEVICE)
    with pytest.raises(SignatureError):
        parse_and_verify(forged)


def test_refusal_signed_under_the_receipt_label_is_refused() -> None:
    wrong_label = REFUSAL_FORM.reseal({"v": 1, "type": REFUSAL_KIND, **fields()}, label="receipt")
    parse_refusal(wrong_label)  # well-formed...
    with pytest.raises(SignatureError):  # ...but not a refusal signature
        parse_and_verify(wrong_label)


# --- parse_answer ----------------------------------------------------------------------------


def test_parse_answer_returns_a_receipt_for_a_receipt() -> None:
    answer = parse_answer(RECEIPT_WIRE)
    assert type(answer) is Receipt
    assert answer == parse_receipt(RECEIPT_WIRE)
    answer.verify(LEDGER.public_key())


def test_parse_answer_returns_a_refusal_for_a_refusal() -> None:
    answer = parse_answer(WIRE)
    assert type(answer) is Refusal
    assert answer == parse_refusal(WIRE)
    answer.verify(LEDGER.public_key())
    with pytest.raises(SignatureError):
        answer.verify(OTHER_LEDGER.public_key())


@pytest.mark.parametrize("wire", [CHECKIN_WIRE, BLOCK_WIRE], ids=["checkin", "block"])
def test_parse_answer_refuses_other_types(wire: bytes) -> None:
    with pytest.raises(WrongTypeError):
        parse_answer(wire)


def test_parse_answer_refuses_an_unknown_type() -> None:
    with pytest.raises(WrongTypeError):
        parse_answer(seal("answer", fields(), LEDGER))


def test_parse_refusal_refuses_a_receipt_and_vice_versa() -> None:
    with pytest.raises(WrongTypeError):
        parse_refusal(RECEIPT_WIRE)
    with pytest.raises(WrongTypeError):
        parse_receipt(WIRE)


@pytest.mark.parametrize("version", [0, 2, True, None])
def test_wrong_version(version: Any) -> None:
    body = {"v": version, "type": REFUSAL_KIND, **fields()}
    if version is None:
        del body["v"]
    data = REFUSAL_FORM.reseal(body)
    with pytest.raises(UnsupportedVersionError):
        parse_refusal(data)
    with pytest.raises(UnsupportedVersionError):
        parse_answer(data)


# --- reasons -----------------------------------------------------------------------------------


GOOD_REASONS = ["a", "replayed", "venue_mismatch", "bad_signature", "r" + "_" * 31, "z" * 32]
BAD_REASONS = [
    "",
    "Replayed",
    "REPLAYED",
    "replayeD",
    "_replayed",
    "1replayed",
    "re-played",
    "re played",
    "replayed\n",
    "r" * 33,
    "a" + "_" * 32,
    "réjoué",
]


def test_reason_pattern() -> None:
    assert REASON_PATTERN == r"[a-z][a-z_]{0,31}"


@pytest.mark.parametrize("reason", GOOD_REASONS)
def test_good_reasons_round_trip(reason: str) -> None:
    entry = RefusalEntry(bytes(16), 1, reason)
    wire = sign_refusal(LEDGER, kiosk_id=KIOSK, entries=[entry], issued_ms=0)
    assert parse_and_verify(wire).entries == (entry,)


@pytest.mark.parametrize("reason", BAD_REASONS)
def test_bad_reason_is_refused_at_signing(reason: str) -> None:
    with pytest.raises(MalformedError):
        sign_refusal(
            LEDGER, kiosk_id=KIOSK, entries=[RefusalEntry(bytes(16), 1, reason)], issued_ms=0
        )


@pytest.mark.parametrize("reason", BAD_REASONS)
def test_bad_reason_is_refused_at_parsing(reason: str) -> None:
    data = seal(REFUSAL_KIND, fields(entries=[[bytes(16), 1, reason]]), LEDGER)
    with pytest.raises(MalformedError) as info:
        parse_refusal(data)
    assert info.type is MalformedError
    with pytest.raises(MalformedError):
        parse_answer(data)


@pytest.mark.parametrize("reason", [7, b"replayed", None, ["replayed"]])
def test_reason_must_be_text(reason: Any) -> None:
    with pytest.raises(MalformedError):
        parse_refusal(seal(REFUSAL_KIND, fields(entries=[[bytes(16), 1, reason]]), LEDGER))


# --- entry counts and other fields --------------------------------------------------------------


def test_one_hundred_entries_of_the_largest_size_fit() -> None:
    entries = [RefusalEntry(b"\xff" * 16, 2**63 - 1, "r" + "_" * 31)] * 100
    wire = sign_refusal(LEDGER, kiosk_id="k" * 63, entries=entries, issued_ms=2**63 - 1)
    refusal = parse_and_verify(wire)
    assert len(refusal.entries) == 100
    assert refusal.kiosk_id == "k" * 63


def test_one_entry_is_enough() -> None:
    wire = sign_refusal(LEDGER, kiosk_id=KIOSK, entries=ENTRIES[:1], issued_ms=NOW_MS)
    assert parse_and_verify(wire).entries == (ENTRIES[0],)


@pytest.mark.parametrize("count", [0, 101])
def test_entry_count_outside_one_to_one_hundred_is_refused(count: int) -> None:
    entries = [RefusalEntry(bytes(16), n, "replayed") for n in range(count)]
    with pytest.raises(MalformedError):
        sign_refusal(LEDGER, kiosk_id=KIOSK, entries=entries, issued_ms=0)
    data = seal(
        REFUSAL_KIND, fields(entries=[[e.checkin_id, e.seq, e.reason] for e in entries]), LEDGER
    )
    with pytest.raises(MalformedError, match="1 to 100"):
        parse_refusal(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"entries": [[bytes(15), 1, "replayed"]]},
        {"entries": [[bytes(17), 1, "replayed"]]},
        {"entries": [[bytes(16), -1, "replayed"]]},
        {"entries": [[bytes(16), 2**63, "replayed"]]},
        {"entries": [[bytes(16), True, "replayed"]]},
        {"entries": [[bytes(16), 1]]},
        {"entries": [[bytes(16), 1, "replayed", 1]]},
        {"entries": [{"id": bytes(16), "seq": 1, "reason": "replayed"}]},
        {"entries": "replayed"},
        {"kiosk": "KIOSK"},
        {"kiosk": "k" * 64},
        {"kiosk": 42},
        {"issued_ms": -1},
        {"issued_ms": True},
    ],
)
def test_bad_field_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedError):
        parse_refusal(seal(REFUSAL_KIND, fields(**changes), LEDGER))


@pytest.mark.parametrize("name", ["kiosk", "entries", "issued_ms"])
def test_missing_field(name: str) -> None:
    body = fields()
    del body[name]
    with pytest.raises(MalformedError, match="lacks"):
        parse_refusal(seal(REFUSAL_KIND, body, LEDGER))


def test_unknown_field() -> None:
    with pytest.raises(MalformedError, match="unknown"):
        parse_refusal(seal(REFUSAL_KIND, fields(block=1), LEDGER))


def test_sign_refusal_refuses_a_bad_kiosk_id_and_checkin_id() -> None:
    with pytest.raises(MalformedError):
        sign_refusal(LEDGER, kiosk_id="Not A Kiosk", entries=ENTRIES, issued_ms=0)
    with pytest.raises(MalformedError):
        sign_refusal(LEDGER, kiosk_id=KIOSK, entries=[RefusalEntry(bytes(15), 1, "x")], issued_ms=0)
    with pytest.raises(MalformedError):
        sign_refusal(LEDGER, kiosk_id=KIOSK, entries=ENTRIES, issued_ms=-1)


def test_oversize_refusal_is_refused() -> None:
    with pytest.raises(OversizeError):
        parse_refusal(WIRE + bytes(64 + 100 * 64 + 1 - len(WIRE)))


# --- tampering and truncation -------------------------------------------------------------------


def test_every_byte_flip_is_refused() -> None:
    assert_every_flip_refused(
        WIRE,
        parse_and_verify,
        lambda bad: parse_answer(bad).verify(LEDGER.public_key()),
        error=ProtocolError,
    )


def test_every_truncation_is_refused() -> None:
    assert_every_truncation_refused(WIRE, parse_refusal, error=TruncatedError)


# --- fuzzing -------------------------------------------------------------------------------------

_FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_FUZZ
@given(data=st.binary(max_size=800))
def test_parse_answer_of_arbitrary_bytes_raises_only_protocol_errors(data: bytes) -> None:
    try:
        answer = parse_answer(data)
    except ProtocolError:
        return
    assert isinstance(answer, Receipt | Refusal)


@_FUZZ
@given(data=st.data())
def test_parse_answer_of_mutated_answers_raises_only_protocol_errors(data: Any) -> None:
    wire = bytearray(data.draw(st.sampled_from([WIRE, RECEIPT_WIRE])))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    try:
        answer = parse_answer(bytes(wire[:cut]))
        answer.verify(LEDGER.public_key())
    except ProtocolError:
        return
    assert bytes(wire[:cut]) in (WIRE, RECEIPT_WIRE)
