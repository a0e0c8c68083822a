"""Kiosk config message (protocol.kiosk_config): signed revocation list, rollback refused."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import (
    MalformedError,
    OversizeError,
    ProtocolError,
    RollbackError,
    SignatureError,
    TruncatedError,
    WrongTypeError,
)
from protocol.kiosk_config import (
    KIND,
    MAX_BYTES,
    MAX_REVOKED,
    parse_kiosk_config,
    sign_kiosk_config,
)
from tests.unit.wire_checks import (
    SignedMap,
    assert_every_flip_refused,
    assert_every_truncation_refused,
    assert_keys_out_of_order_refused,
    assert_trailing_bytes_refused,
    seeded,
)

LEDGER = seeded("kiosk-config-ledger")
OTHER = seeded("kiosk-config-other")
T0 = 1_764_000_000_000


def cred(n: int) -> bytes:
    return hashlib.sha256(b"cred-%d" % n).digest()[:8]


def wire(serial: int = 3, revoked: list[bytes] | None = None, kiosk: str = "kiosk-1") -> bytes:
    return sign_kiosk_config(
        LEDGER,
        kiosk_id=kiosk,
        serial=serial,
        issued_ms=T0,
        revoked=[cred(2), cred(1), cred(2)] if revoked is None else revoked,
    )


FORMAT = SignedMap(wire(), MAX_BYTES, LEDGER, KIND, parse_kiosk_config)


def test_round_trip_sorts_and_deduplicates() -> None:
    message = FORMAT.parse_and_verify(wire())
    assert (message.kiosk_id, message.serial, message.issued_ms) == ("kiosk-1", 3, T0)
    assert message.revoked == frozenset({cred(1), cred(2)})
    assert message.wire == wire()
    assert wire() == wire()  # deterministic: the same list has the same bytes
    message.check_for("kiosk-1", None)
    message.check_for("kiosk-1", 2)


def test_empty_list_is_valid() -> None:
    assert parse_kiosk_config(wire(revoked=[])).revoked == frozenset()


def test_other_signer_is_refused() -> None:
    forged = sign_kiosk_config(OTHER, kiosk_id="kiosk-1", serial=9, issued_ms=T0, revoked=[])
    with pytest.raises(SignatureError):
        parse_kiosk_config(forged).verify(LEDGER.public_key())


def test_receipt_signature_label_does_not_pass_as_config() -> None:
    resealed = FORMAT.reseal(FORMAT.body(), label="receipt")
    with pytest.raises(SignatureError):
        FORMAT.parse_and_verify(resealed)


@pytest.mark.parametrize("held", [3, 4, 100])
def test_older_or_equal_serial_is_a_rollback(held: int) -> None:
    with pytest.raises(RollbackError) as info:
        parse_kiosk_config(wire(serial=3)).check_for("kiosk-1", held)
    assert info.value.reason == "rollback"


def test_config_for_another_kiosk_is_refused() -> None:
    with pytest.raises(WrongTypeError, match="kiosk-2"):
        parse_kiosk_config(wire(kiosk="kiosk-2")).check_for("kiosk-1", None)


def test_every_flip_and_truncation_is_refused() -> None:
    w = wire(revoked=[cred(1)])
    assert_every_flip_refused(
        w, lambda b: FORMAT.parse_and_verify(b), masks=(0x01, 0xFF), error=ProtocolError
    )
    assert_every_truncation_refused(w, parse_kiosk_config, error=TruncatedError)
    assert_trailing_bytes_refused(w, parse_kiosk_config, b"\x00")
    assert_keys_out_of_order_refused(w, parse_kiosk_config, MAX_BYTES)


@pytest.mark.parametrize(
    "changes",
    [
        {"revoked": [b"\x01" * 8, b"\x00" * 8]},  # unsorted
        {"revoked": [b"\x01" * 8, b"\x01" * 8]},  # duplicate
        {"revoked": [b"\x01" * 7]},  # wrong size
        {"revoked": ["x" * 8]},
        {"serial": -1},
        {"serial": True},
        {"kiosk": "Kiosk 1"},
        {"issued_ms": None},
        {"extra": 1},
    ],
)
def test_bad_fields_are_malformed(changes: dict) -> None:
    with pytest.raises(MalformedError):
        parse_kiosk_config(FORMAT.reseal(FORMAT.body(**changes)))


def test_sign_refuses_what_a_verifier_would_refuse() -> None:
    with pytest.raises(MalformedError):
        sign_kiosk_config(LEDGER, kiosk_id="kiosk-1", serial=1, issued_ms=T0, revoked=[b"short"])


def test_largest_list_fits_and_one_more_is_refused() -> None:
    many = [i.to_bytes(8, "big") for i in range(MAX_REVOKED)]
    big = sign_kiosk_config(LEDGER, kiosk_id="k" * 63, serial=2**63 - 1, issued_ms=T0, revoked=many)
    assert len(big) <= MAX_BYTES
    assert len(parse_kiosk_config(big).revoked) == MAX_REVOKED
    with pytest.raises(MalformedError):
        sign_kiosk_config(
            LEDGER, kiosk_id="k", serial=1, issued_ms=T0, revoked=[*many, b"\xff" * 8]
        )
    with pytest.raises(OversizeError):
        parse_kiosk_config(b"\x00" * (MAX_BYTES + 1))


_FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes) -> None:
    try:
        parse_kiosk_config(data).verify(LEDGER.public_key())
    except ProtocolError:
        return
    raise AssertionError("random bytes verified")


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64) + 1, 2**64 - 1)
    | st.binary(max_size=10)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@_FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "kiosk", "serial", "issued_ms", "revoked", "sig"]),
        _VALUES,
    ),
    st.booleans(),
)
def test_arbitrary_maps_raise_only_protocol_errors(value: dict, typed: bool) -> None:
    if typed:
        value = {**value, "v": 1, "type": KIND}
    data = FORMAT.reseal({k: v for k, v in value.items() if k != "sig"})
    try:
        message = parse_kiosk_config(data)
    except ProtocolError:
        return
    message.verify(LEDGER.public_key())  # only what the ledger key signed parses this far
    assert message.revoked == frozenset(value["revoked"])
