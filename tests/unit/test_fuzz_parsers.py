"""Hypothesis fuzzing of every wire-format parser.

Whatever the input, a parser either returns a value or raises a
protocol.errors.ProtocolError subclass; any other exception is a bug.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import base45
import base58
import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import keys, topics
from protocol.audit_entry import parse_audit_entry, sign_audit_entry
from protocol.block import (
    audit_leaf_data,
    leaf_data,
    parse_any_leaf,
    parse_block,
    parse_leaf,
    sign_block,
)
from protocol.checkin import ClockState, parse_checkin, sign_checkin
from protocol.credential import Credential, issue_credential
from protocol.encoding import MAX_DEPTH, decode, encode
from protocol.errors import ProtocolError
from protocol.presentation import PREFIX, Presentation, present
from protocol.receipt import ReceiptEntry, parse_receipt, sign_receipt
from tests.unit.wire_checks import seeded, unsigned_map

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_MORE = settings(FUZZ, max_examples=150)


ISSUER = seeded("fuzz-issuer")
WALLET = seeded("fuzz-wallet")
DEVICE = seeded("fuzz-device")
LEDGER = seeded("fuzz-ledger")
NOW = 1_764_000_000

CRED = issue_credential(
    ISSUER, keys.public_bytes(WALLET), not_before=NOW - 86_400, not_after=NOW + 86_400
)
PRES = present(WALLET, CRED, now=NOW)
CHECKIN = sign_checkin(
    DEVICE,
    checkin_id=bytes(range(16)),
    kiosk_id="kiosk-1",
    venue_id="venue-1",
    seq=42,
    door="both",
    scanned_ms=NOW * 1000,
    clock=ClockState(True, bytes(16), 1000),
    presentation=PRES.to_bytes(),
)
RECEIPT = sign_receipt(
    LEDGER,
    kiosk_id="kiosk-1",
    entries=[ReceiptEntry(bytes(range(16)), 42, 7), ReceiptEntry(bytes(16), 43, 8)],
    block=3,
    tree_size=9,
    root=bytes(32),
    issued_ms=NOW * 1000,
)
BLOCK = sign_block(
    LEDGER,
    origin="safecode.example/log",
    height=3,
    prev=bytes(32),
    first_leaf=7,
    leaf_count=2,
    tree_size=9,
    root=bytes(32),
    sealed_ms=NOW * 1000,
)
LEAF = leaf_data(bytes(range(16)), bytes(32))
AUDIT = sign_audit_entry(
    LEDGER,
    {
        "id": bytes(range(16)),
        "action": "export",
        "actor": "official",
        "role": "health-official",
        "at_ms": NOW * 1000,
        "case": bytes(16),
        "reason": "역학조사",
        "counts": {"rows": 12},
    },
)
AUDIT_LEAF = audit_leaf_data(bytes(range(16)), bytes(32))
VALID_WIRES = [PRES.to_bytes(), CRED.to_bytes(), CHECKIN, RECEIPT, BLOCK, LEAF, AUDIT, AUDIT_LEAF]


# --- the parsers under test ------------------------------------------------------------------


def run_decode(data: bytes) -> Any:
    value = decode(data, max_size=1024, what="fuzz")
    assert encode(value) == bytes(data)  # whatever is accepted is canonical
    return value


def run_presentation(data: bytes) -> Any:
    p = Presentation.from_bytes(data)
    assert p.to_bytes() == bytes(data)
    p.verify([ISSUER.public_key()], now=NOW)
    return p


def run_checkin(data: bytes) -> Any:
    record = parse_checkin(data)
    record.verify(DEVICE.public_key())
    record.parsed_presentation()
    return record


def run_receipt(data: bytes) -> Any:
    receipt = parse_receipt(data)
    receipt.verify(LEDGER.public_key())
    return receipt


def run_block(data: bytes) -> Any:
    header = parse_block(data)
    header.verify(LEDGER.public_key())
    return header


def run_audit_entry(data: bytes) -> Any:
    entry = parse_audit_entry(data)
    entry.verify(LEDGER.public_key())
    return entry


def run_any_leaf(data: bytes) -> Any:
    leaf = parse_any_leaf(data)
    assert len(leaf.id) == 16 and len(leaf.commit) == 32
    return leaf


def run_leaf(data: bytes) -> Any:
    checkin_id, commit = parse_leaf(data)
    assert len(checkin_id) == 16 and len(commit) == 32
    return checkin_id, commit


BYTE_PARSERS: dict[str, Callable[[bytes], Any]] = {
    "decode": run_decode,
    "presentation": run_presentation,
    "checkin": run_checkin,
    "receipt": run_receipt,
    "block": run_block,
    "leaf": run_leaf,
    "audit-entry": run_audit_entry,
    "any-leaf": run_any_leaf,
}


def parse_or_refuse(parser: Callable[[Any], Any], data: Any) -> Any:
    """Return the parser's result, or None if it raised a ProtocolError."""
    try:
        return parser(data)
    except ProtocolError:
        return None


def all_byte_parsers(data: bytes) -> None:
    for parser in BYTE_PARSERS.values():
        parse_or_refuse(parser, data)


def test_valid_wires_pass_their_own_parser():
    assert run_presentation(PRES.to_bytes()) == PRES
    assert run_checkin(CHECKIN).seq == 42
    assert run_receipt(RECEIPT).block == 3
    assert run_block(BLOCK).height == 3
    assert run_leaf(LEAF) == (bytes(range(16)), bytes(32))
    assert run_audit_entry(AUDIT).counts == {"rows": 12}
    assert run_any_leaf(AUDIT_LEAF).kind == "audit"
    for wire in VALID_WIRES:
        run_decode(wire)


# --- arbitrary bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BYTE_PARSERS))
@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes(name, data):
    parse_or_refuse(BYTE_PARSERS[name], data)


CBOR_HEADS = st.sampled_from(
    [bytes([major << 5 | ai]) for major in range(8) for ai in (0, 1, 23, 24, 25, 26, 27, 31)]
)


@FUZZ
@given(chunks=st.lists(st.one_of(CBOR_HEADS, st.binary(max_size=9)), max_size=40))
def test_cbor_shaped_bytes(chunks):
    # Concatenated CBOR heads reach far deeper into the decoder than random bytes.
    all_byte_parsers(b"".join(chunks))


# --- structured mutations of valid messages ------------------------------------------------------


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID_WIRES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= draw(st.integers(1, 255))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0x17, 0x18, 0x1B, 0x5F, 0x9F, 0xBF, 0xF5, 0xFF]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[i:]
        else:
            j = draw(st.integers(i, len(data)))
            data[j:j] = data[i:j]
    return bytes(data)


@FUZZ_MORE
@given(data=mutated())
def test_mutated_valid_messages(data):
    results = {name: parse_or_refuse(p, data) for name, p in BYTE_PARSERS.items()}
    # A mutation never passes full verification (leaves are unsigned; decode is no check).
    if data not in VALID_WIRES:
        for name in ("presentation", "checkin", "receipt", "block"):
            assert results[name] is None, name


@FUZZ
@given(data=mutated())
def test_mutated_messages_through_the_text_form(data):
    parse_or_refuse(Presentation.from_text, PREFIX + base45.b45encode(data).decode())


# --- random CBOR values --------------------------------------------------------------------------

INTERESTING_TEXT = st.sampled_from(
    ["v", "type", "sig", "checkin", "receipt", "block", "id", "kiosk", "seq", "clock", "k1", ""]
)
INTERESTING_BYTES = st.sampled_from([bytes(8), bytes(16), bytes(32), bytes(64), b""])
PLAIN_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64 - 1),
    st.integers(0, 300),
    st.binary(max_size=40),
    INTERESTING_BYTES,
    st.text(max_size=20),
    INTERESTING_TEXT,
)
PLAIN_KEYS = st.one_of(
    INTERESTING_TEXT, st.text(max_size=8), st.integers(-30, 300), st.binary(max_size=4)
)


def containers(children):
    return st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(PLAIN_KEYS, children, max_size=6),
    )


PLAIN_VALUES = st.recursive(PLAIN_LEAVES, containers, max_leaves=16)
FOREIGN_LEAVES = st.one_of(
    PLAIN_LEAVES,
    st.floats(allow_nan=True),
    st.integers(2**64, 2**80),
    st.integers(-(2**80), -(2**64) - 1),
    st.frozensets(st.integers(0, 5), max_size=3),
    st.datetimes(timezones=st.just(datetime.UTC)),
)
ANY_VALUES = st.recursive(FOREIGN_LEAVES, containers, max_leaves=16)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@FUZZ_MORE
@given(value=PLAIN_VALUES)
def test_canonical_encodings_of_plain_values_round_trip(value):
    data = cbor2.dumps(value, canonical=True)
    assert data == encode(value)
    if depth(value) <= MAX_DEPTH:
        assert decode(data, max_size=len(data), what="fuzz") == value
    else:
        parse_or_refuse(run_decode, data)


@FUZZ_MORE
@given(value=ANY_VALUES)
def test_random_cbor_values_through_every_parser(value):
    data = cbor2.dumps(value, canonical=True)
    all_byte_parsers(data)


@FUZZ
@given(value=ANY_VALUES)
def test_random_values_as_a_credential_array(value):
    parse_or_refuse(Credential.from_array, value)


# --- random fields inside properly signed messages -------------------------------------------


def signed_body(wire: bytes) -> dict:
    return unsigned_map(wire, max_size=1024)


TEMPLATES = {
    "checkin": (signed_body(CHECKIN), DEVICE, run_checkin, parse_checkin),
    "receipt": (signed_body(RECEIPT), LEDGER, run_receipt, parse_receipt),
    "block": (signed_body(BLOCK), LEDGER, run_block, parse_block),
}


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
@FUZZ
@given(data=st.data())
def test_random_fields_in_signed_maps(kind, data):
    body, key, _, parse = TEMPLATES[kind]
    body = dict(body)
    names = sorted(k for k in body if isinstance(k, str))
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            body[data.draw(st.sampled_from(names))] = data.draw(ANY_VALUES)
        elif action == "delete":
            body.pop(data.draw(st.sampled_from(names)), None)
        else:
            name = data.draw(PLAIN_KEYS.filter(lambda k: k != "sig"))
            body[name] = data.draw(PLAIN_VALUES)
    label = (
        body.get("type") if isinstance(body.get("type"), str) and body["type"].isascii() else kind
    )
    try:
        wire = cbor2.dumps(
            {**body, "sig": keys.sign(key, label, cbor2.dumps(body, canonical=True))},
            canonical=True,
        )
    except (cbor2.CBOREncodeError, ValueError, TypeError):
        return  # a value cbor2 itself cannot encode canonically
    parsed = parse_or_refuse(parse, wire)
    if parsed is not None:
        # Whatever parses carries the very bytes that were signed.
        parsed.verify(key.public_key())


@FUZZ
@given(data=st.data())
def test_random_items_in_presentations(data):
    cred = CRED.to_array()
    outer = [1, 1, cred, NOW]
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(["outer", "cred"]))
        items = outer if target == "outer" else cred
        i = data.draw(st.integers(0, len(items)))
        if i == len(items) or data.draw(st.booleans()):
            items.insert(i, data.draw(ANY_VALUES))
        else:
            items[i] = data.draw(ANY_VALUES)
    try:
        signed = cbor2.dumps(outer, canonical=True)
        wire = cbor2.dumps([*outer, keys.sign(WALLET, "presentation", signed)], canonical=True)
    except (cbor2.CBOREncodeError, ValueError, TypeError):
        return
    parse_or_refuse(Presentation.from_bytes, wire)
    parse_or_refuse(run_presentation, wire)
    parse_or_refuse(Presentation.from_text, PREFIX + base45.b45encode(wire).decode())


# --- text parsers -------------------------------------------------------------------------------

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@FUZZ
@given(text=st.text(max_size=400))
def test_presentation_from_arbitrary_text(text):
    parse_or_refuse(Presentation.from_text, text)


@FUZZ
@given(body=st.text(alphabet=BASE45 + "\n\r\t_a\u00e9", max_size=400))
def test_presentation_from_base45_looking_text(body):
    parse_or_refuse(Presentation.from_text, PREFIX + body)


@FUZZ
@given(data=st.binary(max_size=300))
def test_presentation_from_base45_of_random_bytes(data):
    parse_or_refuse(Presentation.from_text, PREFIX + base45.b45encode(data).decode())


@pytest.mark.parametrize("value", [None, 0, b"SC1:", ["SC1:"], 1.5])
def test_presentation_from_text_non_text(value):
    with pytest.raises(ProtocolError):
        Presentation.from_text(value)


@FUZZ
@given(text=st.text(max_size=200))
def test_parse_topic_arbitrary_text(text):
    parse_or_refuse(topics.parse_topic, text)


TOPIC_PIECES = st.sampled_from(
    ["safecode", "v1", "v2", "kiosk", "k1", "K1", "-k", "a" * 63, "a" * 64, "+", "#", "", "$share"]
    + list(topics.LEAVES)
)


@FUZZ
@given(parts=st.lists(st.one_of(TOPIC_PIECES, st.text(max_size=6)), max_size=7))
def test_parse_topic_structured(parts):
    name = "/".join(parts)
    result = parse_or_refuse(topics.parse_topic, name)
    if result is not None:
        kiosk_id, leaf = result
        assert topics.topic(kiosk_id, leaf) == name


@FUZZ
@given(text=st.text(max_size=100))
def test_parse_did_key_arbitrary_text(text):
    parse_or_refuse(keys.parse_did_key, text)


@FUZZ
@given(body=st.text(alphabet=BASE58 + "0OIl \n", max_size=60))
def test_parse_did_key_base58_looking_text(body):
    result = parse_or_refuse(keys.parse_did_key, "did:key:z" + body)
    if result is not None:
        assert len(result) == 32


@FUZZ
@given(
    payload=st.binary(max_size=40), prefix=st.sampled_from([b"", b"\xed\x01", b"\xec\x01", b"\x00"])
)
def test_parse_did_key_of_encoded_bytes(payload, prefix):
    did = "did:key:z" + base58.b58encode(prefix + payload).decode()
    result = parse_or_refuse(keys.parse_did_key, did)
    if result is not None:
        assert prefix + payload == b"\xed\x01" + result
        assert keys.did_key(result) == did
    else:
        assert not (prefix == b"\xed\x01" and len(payload) == 32)


@pytest.mark.parametrize("value", [None, 0, b"did:key:z6Mk", ["did"], 1.5])
def test_parse_did_key_non_text(value):
    with pytest.raises(ProtocolError):
        keys.parse_did_key(value)


@pytest.mark.parametrize("value", [None, 0, b"safecode/v1/kiosk/k/checkin", ["x"], 1.5])
def test_parse_topic_non_text(value):
    with pytest.raises(ProtocolError):
        topics.parse_topic(value)


@pytest.mark.parametrize("name", sorted(BYTE_PARSERS))
@pytest.mark.parametrize("value", [None, 0, "text", ["x"], 1.5])
def test_byte_parsers_refuse_non_bytes(name, value):
    with pytest.raises(ProtocolError):
        BYTE_PARSERS[name](value)
