"""Wallet issuance requests, answers, HA sealing and calendar days (protocol.issuance)."""

from __future__ import annotations

import contextlib
import datetime
from typing import Any
from zoneinfo import ZoneInfo

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import issuance, keys, signed
from protocol.authority_seal import seal_to_authority
from protocol.contact import BLOB_SIZE, Contact, seal_contact
from protocol.credential import issue_credential
from protocol.encoding import encode
from protocol.errors import (
    DecryptionError,
    MalformedError,
    OversizeError,
    ProtocolError,
    SignatureError,
    UnsupportedVersionError,
    WrongTypeError,
)
from protocol.issuance import BlobSizeError, StaleError
from tests.unit.wire_checks import seeded

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HA = X25519PrivateKey.from_private_bytes(bytes(range(32)))
ENROLMENT_KEY = seeded("issuance-enrolment")
OTHER = seeded("issuance-other")
ISSUER = seeded("issuance-issuer")
WALLETS = [keys.public_bytes(seeded(f"issuance-wallet-{i}")) for i in range(8)]
BLOB = seal_contact(HA.public_key(), Contact("+821012345678", "ko", bytes(32)))
NOW = 1_764_000_000
NONCE = bytes(range(16))
ENROLMENT = bytes(range(100, 116))
SEOUL = ZoneInfo("Asia/Seoul")


def enrol_wire(**changes: Any) -> bytes:
    fields = {
        "key": keys.public_bytes(ENROLMENT_KEY),
        "phone": "+821012345678",
        "contact": BLOB,
        "ts": NOW,
        "nonce": NONCE,
        **changes,
    }
    return signed.seal(issuance.ENROL, fields, ENROLMENT_KEY)


def raw_wire(kind: str, fields: dict[str, Any], key: Any = ENROLMENT_KEY) -> bytes:
    """A signed map built without the request schema (for hostile shapes)."""
    return signed.seal(kind, fields, key)


# --- requests -------------------------------------------------------------------------


def test_enrol_round_trip_and_self_signature() -> None:
    wire = issuance.sign_enrol(
        ENROLMENT_KEY, phone="010-1234-5678", contact_blob=BLOB, ts=NOW, nonce=NONCE
    )
    request = issuance.parse_request(wire, issuance.ENROL)
    assert (request.kind, request.ts, request.nonce) == (issuance.ENROL, NOW, NONCE)
    assert request.fields == {
        "key": keys.public_bytes(ENROLMENT_KEY),
        "phone": "010-1234-5678",
        "contact": BLOB,
    }
    request.verify_self_signed()
    with pytest.raises(SignatureError):
        request.verify(keys.public_bytes(OTHER))


def test_enrol_signed_by_another_key_is_refused() -> None:
    wire = raw_wire(
        issuance.ENROL,
        {
            "key": keys.public_bytes(ENROLMENT_KEY),
            "phone": "+821012345678",
            "contact": BLOB,
            "ts": NOW,
            "nonce": NONCE,
        },
        key=OTHER,
    )
    with pytest.raises(SignatureError):
        issuance.parse_request(wire, issuance.ENROL).verify_self_signed()


def test_batch_contact_delete_round_trip() -> None:
    batch = issuance.sign_batch(
        ENROLMENT_KEY, enrolment=ENROLMENT, wallet_keys=WALLETS[:7], ts=NOW, nonce=NONCE
    )
    request = issuance.parse_request(batch, issuance.BATCH)
    assert request.enrolment == ENROLMENT and request.fields["keys"] == WALLETS[:7]
    request.verify(keys.public_bytes(ENROLMENT_KEY))

    contact = issuance.sign_contact(
        ENROLMENT_KEY, enrolment=ENROLMENT, phone="+821098765432", contact_blob=BLOB, ts=NOW
    )
    assert issuance.parse_request(contact, issuance.CONTACT).fields["phone"] == "+821098765432"

    pairs = [(bytes([i]) * 8, bytes([i]) * 16) for i in range(3)]
    delete = issuance.sign_delete(ENROLMENT_KEY, enrolment=ENROLMENT, revoke=pairs, ts=NOW)
    assert issuance.parse_request(delete, issuance.DELETE).fields["revoke"] == pairs
    empty = issuance.sign_delete(ENROLMENT_KEY, enrolment=ENROLMENT, revoke=[], ts=NOW)
    assert issuance.parse_request(empty, issuance.DELETE).fields["revoke"] == []


def test_request_bytes_are_the_signed_map_the_contract_describes() -> None:
    wire = issuance.sign_batch(
        ENROLMENT_KEY, enrolment=ENROLMENT, wallet_keys=WALLETS[:1], ts=NOW, nonce=NONCE
    )
    value = cbor2.loads(wire)
    assert set(value) == {"v", "type", "ts", "nonce", "enrolment", "keys", "sig"}
    assert value["v"] == 1 and value["type"] == "wallet-batch"
    unsigned = encode({k: v for k, v in value.items() if k != "sig"})
    message = b"safecode/v1/wallet-batch\x00" + unsigned
    ENROLMENT_KEY.public_key().verify(value["sig"], message)
    assert wire == encode(value)


def test_kind_is_bound_to_the_signature_and_the_type() -> None:
    wire = issuance.sign_batch(
        ENROLMENT_KEY, enrolment=ENROLMENT, wallet_keys=WALLETS[:1], ts=NOW, nonce=NONCE
    )
    with pytest.raises(WrongTypeError):
        issuance.parse_request(wire, issuance.DELETE)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"contact": BLOB[:-1]}, BlobSizeError),
        ({"contact": BLOB + b"\0"}, BlobSizeError),
        ({"contact": b"\x02" + BLOB[1:]}, UnsupportedVersionError),
        ({"contact": "text"}, MalformedError),
        ({"nonce": bytes(15)}, MalformedError),
        ({"nonce": bytes(17)}, MalformedError),
        ({"ts": -1}, MalformedError),
        ({"ts": 2**32}, MalformedError),
        ({"ts": True}, MalformedError),
        ({"key": bytes(31)}, MalformedError),
        ({"key": bytes(32)}, MalformedError),  # a point of small order
        ({"phone": ""}, MalformedError),
        ({"phone": "1" * 33}, MalformedError),
        ({"phone": "+8210\n1234"}, MalformedError),
        ({"phone": 821012345678}, MalformedError),
        ({"extra": 1}, MalformedError),
    ],
)
def test_enrol_shape_is_strict(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        issuance.parse_request(enrol_wire(**changes), issuance.ENROL)


def test_wrong_blob_size_has_its_own_reason() -> None:
    with pytest.raises(BlobSizeError) as caught:
        issuance.parse_request(enrol_wire(contact=bytes(BLOB_SIZE - 1)), issuance.ENROL)
    assert caught.value.reason == "wrong_blob_size"


@pytest.mark.parametrize(
    "wallet_keys",
    [
        [],
        WALLETS[:8],
        [WALLETS[0], WALLETS[0]],
        [bytes(32)],
        [b"\xff" * 32],  # not canonical
        [WALLETS[0][:31]],
        "keys",
    ],
)
def test_batch_keys_are_1_to_7_distinct_valid_keys(wallet_keys: Any) -> None:
    fields = {"enrolment": ENROLMENT, "keys": wallet_keys, "ts": NOW, "nonce": NONCE}
    with pytest.raises(MalformedError):
        issuance.parse_request(raw_wire(issuance.BATCH, fields), issuance.BATCH)


@pytest.mark.parametrize(
    "pairs",
    [
        [[bytes(8), bytes(16)]] * 65,
        [[bytes(7), bytes(16)]],
        [[bytes(8), bytes(15)]],
        [[bytes(8)]],
        [bytes(24)],
    ],
)
def test_delete_pairs_are_bounded(pairs: Any) -> None:
    fields = {"enrolment": ENROLMENT, "revoke": pairs, "ts": NOW, "nonce": NONCE}
    with pytest.raises(MalformedError):
        issuance.parse_request(raw_wire(issuance.DELETE, fields), issuance.DELETE)


def test_oversized_request_is_refused_before_decoding() -> None:
    with pytest.raises(OversizeError):
        issuance.parse_request(b"\xa0" * (issuance.MAX_REQUEST_SIZE + 1), issuance.ENROL)


def test_freshness_is_120_seconds_either_way() -> None:
    request = issuance.parse_request(enrol_wire(), issuance.ENROL)
    for now in (NOW - 120, NOW, NOW + 120):
        request.check_fresh(now)
    for now in (NOW - 121, NOW + 121):
        with pytest.raises(StaleError) as caught:
            request.check_fresh(now)
        assert caught.value.reason == "stale"


def test_sign_request_refuses_what_the_parser_would() -> None:
    with pytest.raises(MalformedError):
        issuance.sign_batch(ENROLMENT_KEY, enrolment=ENROLMENT, wallet_keys=[], ts=NOW)
    with pytest.raises(ValueError):
        issuance.sign_request(ENROLMENT_KEY, "wallet-other", {}, ts=NOW)


@FUZZ
@given(
    kind=st.sampled_from(issuance.KINDS),
    fields=st.dictionaries(
        st.sampled_from(["ts", "nonce", "key", "phone", "contact", "enrolment", "keys", "revoke"]),
        st.one_of(
            st.integers(-(2**64), 2**64 - 1),
            st.binary(max_size=40),
            st.sampled_from([BLOB, bytes(16), bytes(8), WALLETS[0], NONCE]),
            st.text(max_size=40),
            st.lists(st.one_of(st.binary(max_size=33), st.sampled_from(WALLETS)), max_size=9),
            st.lists(st.lists(st.binary(max_size=17), max_size=3), max_size=3),
            st.booleans(),
            st.none(),
        ),
    ),
)
def test_fuzz_parser_returns_or_refuses_with_a_protocol_error(
    kind: str, fields: dict[str, Any]
) -> None:
    wire = signed.seal(kind, fields, ENROLMENT_KEY)
    try:
        request = issuance.parse_request(wire, kind)
    except ProtocolError:
        return
    request.check_fresh(request.ts)
    assert set(request.fields) | {"ts", "nonce"} == set(issuance.SCHEMAS[kind])


@FUZZ
@given(data=st.binary(max_size=issuance.MAX_REQUEST_SIZE + 8), kind=st.sampled_from(issuance.KINDS))
def test_fuzz_parser_on_raw_bytes(data: bytes, kind: str) -> None:
    with contextlib.suppress(ProtocolError):
        issuance.parse_request(data, kind)


@FUZZ
@given(index=st.integers(0, 10_000), mask=st.integers(1, 255))
def test_fuzz_a_flipped_byte_never_verifies(index: int, mask: int) -> None:
    wire = bytearray(enrol_wire())
    wire[index % len(wire)] ^= mask
    try:
        issuance.parse_request(bytes(wire), issuance.ENROL).verify_self_signed()
    except ProtocolError:
        return
    pytest.fail("a damaged request verified")


# --- answers --------------------------------------------------------------------------


def test_answers_round_trip() -> None:
    assert issuance.parse_enrol_answer(issuance.enrol_answer(ENROLMENT)) == ENROLMENT
    assert issuance.parse_contact_answer(issuance.contact_answer()) is True
    assert issuance.parse_delete_answer(issuance.delete_answer(3)) == 3
    credentials = tuple(
        issue_credential(ISSUER, w, not_before=NOW, not_after=NOW + 86_400) for w in WALLETS[:2]
    )
    answer = issuance.BatchAnswer(
        credentials, (bytes(16), bytes([1]) * 16), ("2025-11-25", "2025-11-26"), "Asia/Seoul"
    )
    again = issuance.BatchAnswer.from_bytes(answer.to_bytes())
    assert again == answer
    assert cbor2.loads(answer.to_bytes())["credentials"][0] == credentials[0].to_array()
    with pytest.raises(MalformedError):
        issuance.BatchAnswer(credentials, (bytes(16),), ("2025-11-25",), "Asia/Seoul")
    bad_day = encode({**cbor2.loads(answer.to_bytes()), "days": ["2025-11-25", "2025-13-01"]})
    with pytest.raises(MalformedError):
        issuance.BatchAnswer.from_bytes(bad_day)


# --- sealed to the health authority ---------------------------------------------------


def test_owner_and_batch_list_open_only_with_the_ha_key() -> None:
    owner = issuance.seal_owner(HA.public_key(), ENROLMENT)
    assert len(owner) == 1 + 32 + issuance.OWNER_PADDED_SIZE + 16
    assert issuance.open_owner(HA, owner) == ENROLMENT
    ids = [bytes([i]) * 8 for i in range(7)]
    sealed = issuance.seal_batch_list(HA.public_key(), ids)
    short = issuance.seal_batch_list(HA.public_key(), ids[:1])
    assert len(sealed) == len(short)  # the length says nothing about the count
    assert issuance.open_batch_list(HA, sealed) == ids
    other = X25519PrivateKey.generate()
    with pytest.raises(DecryptionError):
        issuance.open_owner(other, owner)
    as_contact = seal_to_authority(HA.public_key(), "contact", ENROLMENT, padded_size=32)
    with pytest.raises(DecryptionError):
        issuance.open_owner(HA, as_contact)  # another purpose never opens
    assert issuance.seal_owner(HA.public_key(), ENROLMENT) != owner  # randomised
    with pytest.raises(ValueError):
        issuance.seal_batch_list(HA.public_key(), ids + ids[:1])


# --- calendar days --------------------------------------------------------------------


def test_seoul_days_start_at_local_midnight() -> None:
    # 2025-11-24 15:00 UTC is 2025-11-25 00:00 in Seoul (UTC+9, no daylight saving).
    start = int(datetime.datetime(2025, 11, 24, 15, tzinfo=datetime.UTC).timestamp())
    assert issuance.local_day(start, SEOUL) == datetime.date(2025, 11, 25)
    assert issuance.local_day(start - 1, SEOUL) == datetime.date(2025, 11, 24)
    assert issuance.day_bounds(datetime.date(2025, 11, 25), SEOUL) == (start, start + 86_400)
    assert issuance.seconds_to_next_day(start - 10, SEOUL) == 10
    assert issuance.seconds_to_next_day(start, SEOUL) == 86_400


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", datetime.date(2025, 3, 30), 23),  # clocks forward
        ("Europe/Berlin", datetime.date(2025, 10, 26), 25),  # clocks back
        ("America/Santiago", datetime.date(2025, 9, 7), 23),  # midnight skipped
        ("America/Havana", datetime.date(2025, 11, 2), 25),  # midnight twice
    ],
)
def test_daylight_saving_days_are_contiguous(zone: str, day: datetime.date, hours: int) -> None:
    tz = ZoneInfo(zone)
    start, end = issuance.day_bounds(day, tz)
    assert end - start == hours * 3600
    assert issuance.day_bounds(day - datetime.timedelta(days=1), tz)[1] == start
    assert issuance.local_day(start, tz) == day
    assert issuance.local_day(end - 1, tz) == day
    assert issuance.local_day(end, tz) == day + datetime.timedelta(days=1)


@FUZZ
@given(
    now=st.integers(0, 2**32 - 2 * 86_400),
    zone=st.sampled_from(["Asia/Seoul", "Europe/Berlin", "America/Santiago", "Pacific/Apia"]),
)
def test_fuzz_now_lies_in_its_days_bounds(now: int, zone: str) -> None:
    tz = ZoneInfo(zone)
    start, end = issuance.day_bounds(issuance.local_day(now, tz), tz)
    assert start <= now < end
    assert 1 <= issuance.seconds_to_next_day(now, tz) <= end - now + 1
