"""The signed audit entry (protocol/audit_entry.py) and the audit leaf (protocol/block.py)."""

from __future__ import annotations

import contextlib
import hashlib
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import keys, merkle
from protocol.audit_entry import (
    ACTIONS,
    MAX_BYTES,
    MAX_COUNTS,
    MAX_REASON,
    check_fields,
    encode_draft,
    new_audit_id,
    parse_audit_entry,
    parse_draft,
    sign_audit_entry,
)
from protocol.block import (
    AUDIT_LEAF,
    CHECKIN_LEAF,
    audit_leaf_data,
    leaf_data,
    parse_any_leaf,
    parse_leaf,
)
from protocol.encoding import encode
from protocol.errors import (
    MalformedError,
    ProtocolError,
    SignatureError,
    TruncatedError,
    UnsupportedVersionError,
    WrongTypeError,
)
from tests.unit.wire_checks import (
    assert_every_flip_refused,
    assert_every_truncation_refused,
    assert_indefinite_length_refused,
    assert_trailing_bytes_refused,
    seeded,
    unsigned_map,
)

LEDGER = seeded("audit-entry-ledger")
OTHER = seeded("audit-entry-other")
AUDIT_ID = bytes(range(16))
CASE = bytes(range(100, 116))
FIELDS: dict[str, Any] = {
    "id": AUDIT_ID,
    "action": "exposure-list",
    "actor": "kim.official",
    "role": "health-official",
    "at_ms": 1_764_000_000_123,
    "case": CASE,
    "reason": "확진자 역학조사 (case 2026-12-03) — confirmed case, Jeju",
    "counts": {"visits": 20, "contacts": 183},
}
WIRE = sign_audit_entry(LEDGER, FIELDS)


def run(data: bytes) -> Any:
    entry = parse_audit_entry(data)
    entry.verify(LEDGER.public_key())
    return entry


def test_round_trip_and_leaf() -> None:
    entry = run(WIRE)
    assert entry.fields() == FIELDS
    assert entry.wire == WIRE
    assert entry.commitment == hashlib.sha256(WIRE).digest()
    assert parse_any_leaf(entry.leaf) == (
        parse_any_leaf(audit_leaf_data(AUDIT_ID, entry.commitment))
    )
    assert parse_any_leaf(entry.leaf).kind == AUDIT_LEAF
    assert entry.leaf_hash == merkle.leaf_hash(entry.leaf)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_signs(action: str) -> None:
    assert run(sign_audit_entry(LEDGER, {**FIELDS, "action": action})).action == action


def test_wrong_key_refused_and_any_trusted_key_accepted() -> None:
    entry = parse_audit_entry(WIRE)
    with pytest.raises(SignatureError):
        entry.verify(OTHER.public_key())
    with pytest.raises(SignatureError):
        entry.verify([])
    entry.verify([OTHER.public_key(), LEDGER.public_key()])  # an audit key list


def test_a_block_signature_is_not_an_audit_signature() -> None:
    """The signature's domain is the type: the same key's other messages do not pass."""
    body = unsigned_map(WIRE, MAX_BYTES)
    sig = keys.sign(LEDGER, "block", encode(body))
    with pytest.raises(SignatureError):
        run(encode({**body, "sig": sig}))


def test_every_flip_is_refused() -> None:
    assert_every_flip_refused(WIRE, run, masks=(0x01, 0x80))


def test_truncations_trailing_bytes_and_indefinite_lengths_are_refused() -> None:
    assert_every_truncation_refused(WIRE, parse_audit_entry, error=ProtocolError)
    assert_trailing_bytes_refused(WIRE, parse_audit_entry, b"\x00")
    assert_indefinite_length_refused(WIRE, parse_audit_entry, head=WIRE[0])


def test_wrong_type_and_version() -> None:
    body = unsigned_map(WIRE, MAX_BYTES)
    with pytest.raises(WrongTypeError):
        parse_audit_entry(encode({**body, "type": "block", "sig": bytes(64)}))
    with pytest.raises(UnsupportedVersionError):
        parse_audit_entry(encode({**body, "v": 2, "sig": bytes(64)}))


BAD_FIELDS = [
    ("action", "looked"),
    ("action", "Case-Opened"),
    ("actor", ""),
    ("actor", "x" * 65),
    ("actor", "kim\nofficial"),
    ("actor", "kim\u202eofficial"),  # right-to-left override
    ("actor", "kim\u200dofficial"),  # zero-width joiner
    ("actor", " kim"),
    ("actor", b"kim"),
    ("role", "Health Official"),
    ("role", ""),
    ("role", "r" * 33),
    ("at_ms", -1),
    ("at_ms", True),
    ("at_ms", 1.5),
    ("at_ms", 10**16),
    ("case", bytes(15)),
    ("case", "00" * 16),
    ("reason", ""),
    ("reason", "r" * (MAX_REASON + 1)),
    ("reason", "e\u0301"),  # not NFC (NFC is "\u00e9")
    ("reason", "tab\there"),
    ("reason", "line\u2028break"),
    ("reason", "nul\x00"),
    ("reason", "\ud800"),
    ("counts", []),
    ("counts", {"Visits": 1}),
    ("counts", {"visits": -1}),
    ("counts", {"visits": 2**53 + 1}),
    ("counts", {"visits": True}),
    ("counts", {"a" + str(i): 1 for i in range(MAX_COUNTS + 1)}),
    ("counts", {1: 1}),
    ("id", bytes(17)),
]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS)
def test_bad_fields_are_refused_when_signing_drafting_and_parsing(name: str, value: Any) -> None:
    bad = {**FIELDS, name: value}
    with pytest.raises(MalformedError):
        sign_audit_entry(LEDGER, bad)
    with pytest.raises(MalformedError):
        encode_draft(bad)
    if name == "reason" and value == "\ud800":
        return  # a lone surrogate cannot even be encoded as CBOR text
    body = unsigned_map(WIRE, MAX_BYTES)
    body[name] = value
    forged = encode({**body, "sig": keys.sign(LEDGER, "audit-entry", encode(body))})
    with pytest.raises(MalformedError):
        parse_audit_entry(forged)


def test_missing_and_extra_fields_are_refused() -> None:
    for name in FIELDS:
        with pytest.raises(MalformedError, match="lacks"):
            check_fields({k: v for k, v in FIELDS.items() if k != name})
    with pytest.raises(MalformedError, match="unknown"):
        check_fields({**FIELDS, "phone": "010-1234-5678"})  # no identities


def test_good_edge_values() -> None:
    edge = {
        **FIELDS,
        "actor": "a",
        "reason": "가" * MAX_REASON,
        "counts": {},
        "at_ms": 0,
    }
    assert run(sign_audit_entry(LEDGER, edge)).fields() == edge
    assert len(sign_audit_entry(LEDGER, edge)) <= MAX_BYTES


def test_draft_round_trip_and_refusal() -> None:
    assert parse_draft(encode_draft(FIELDS)) == FIELDS
    with pytest.raises(MalformedError):
        parse_draft(encode([1, 2]))
    with pytest.raises(TruncatedError):
        parse_draft(b"")


def test_audit_ids_are_random() -> None:
    assert len({new_audit_id() for _ in range(50)}) == 50


# --- leaves of both kinds ---------------------------------------------------------------------


CHECKIN_ID = bytes(range(16))
COMMIT = bytes(range(32))


def test_check_in_leaf_bytes_are_unchanged() -> None:
    """The check-in leaf of every ledger sealed before audit entries existed."""
    leaf = leaf_data(CHECKIN_ID, COMMIT)
    assert leaf == encode({"v": 1, "id": CHECKIN_ID, "commit": COMMIT})
    assert merkle.leaf_hash(leaf) == merkle.leaf_hash(
        bytes.fromhex("a3617601626964" + "50" + CHECKIN_ID.hex() + "66636f6d6d69745820") + COMMIT
    )
    parsed = parse_any_leaf(leaf)
    assert (parsed.kind, parsed.id, parsed.commit) == (CHECKIN_LEAF, CHECKIN_ID, COMMIT)


def test_audit_leaf_bytes_and_kinds_never_collide() -> None:
    audit = audit_leaf_data(CHECKIN_ID, COMMIT)
    assert audit == encode({"v": 1, "kind": "audit", "id": CHECKIN_ID, "commit": COMMIT})
    assert merkle.leaf_hash(audit) != merkle.leaf_hash(leaf_data(CHECKIN_ID, COMMIT))
    parsed = parse_any_leaf(audit)
    assert (parsed.kind, parsed.id, parsed.commit) == (AUDIT_LEAF, CHECKIN_ID, COMMIT)
    with pytest.raises(MalformedError, match="unknown field"):
        parse_leaf(audit)  # a check-in-only reader refuses it, never misreads it


@pytest.mark.parametrize(
    "value",
    [
        {"v": 1, "kind": "checkin", "id": CHECKIN_ID, "commit": COMMIT},
        {"v": 1, "kind": "audit", "id": CHECKIN_ID},
        {"v": 1, "kind": "audit", "id": bytes(15), "commit": COMMIT},
        {"v": 1, "kind": "audit", "id": CHECKIN_ID, "commit": COMMIT, "x": 1},
        {"v": 1, "kind": 1, "id": CHECKIN_ID, "commit": COMMIT},
    ],
)
def test_bad_audit_leaves_are_refused(value: dict) -> None:
    with pytest.raises(MalformedError):
        parse_any_leaf(encode(value))


def test_leaf_version_two_is_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError):
        parse_any_leaf(encode({"v": 2, "kind": "audit", "id": CHECKIN_ID, "commit": COMMIT}))


# --- fuzz ---------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    for parse in (run, parse_draft, parse_any_leaf):
        with contextlib.suppress(ProtocolError):
            parse(data)


@FUZZ
@given(st.data())
def test_fuzz_mutated_entries(data: st.DataObject) -> None:
    wire = bytearray(WIRE)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] = data.draw(st.integers(0, 255))
    try:
        entry = run(bytes(wire))
    except ProtocolError:
        return
    assert bytes(wire) == WIRE and entry.fields() == FIELDS


@FUZZ
@given(
    actor=st.text(min_size=0, max_size=80),
    reason=st.text(min_size=0, max_size=600),
    role=st.text(max_size=40),
    counts=st.dictionaries(st.text(max_size=40), st.integers(-5, 2**54), max_size=10),
)
def test_fuzz_fields(actor: str, reason: str, role: str, counts: dict) -> None:
    """Whatever text comes from a form: refused with MalformedError, or it round-trips."""
    fields = {**FIELDS, "actor": actor, "reason": reason, "role": role, "counts": counts}
    try:
        wire = sign_audit_entry(LEDGER, fields)
    except MalformedError:
        return
    entry = run(wire)
    assert entry.fields() == fields
    for text in (entry.actor, entry.reason):
        assert not any(unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" for c in text)
