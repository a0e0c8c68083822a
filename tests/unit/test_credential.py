"""Visitor credential: issuer signature over a wallet key (protocol.credential)."""

from __future__ import annotations

import pytest

from protocol import keys
from protocol.credential import (
    CREDENTIAL_ID_SIZE,
    VERSION,
    Credential,
    issue_credential,
)
from protocol.encoding import decode, encode
from protocol.errors import (
    ExpiredError,
    MalformedError,
    NotYetValidError,
    ProtocolError,
    TruncatedError,
    UnknownKeyError,
    UnsupportedVersionError,
)
from tests.unit.wire_checks import (
    assert_every_flip_refused,
    assert_every_truncation_refused,
    seeded,
)

ISSUER = seeded("credential-issuer")
OLD_ISSUER = seeded("credential-old-issuer")
STRANGER = seeded("credential-stranger")
WALLET = seeded("credential-wallet")
WALLET_PUB = keys.public_bytes(WALLET)
NOW = 1_764_000_000
NOT_BEFORE = NOW - 86_400
NOT_AFTER = NOW + 365 * 86_400
CRED_ID = bytes.fromhex("0102030405060708")


def make(**overrides) -> Credential:
    args = {
        "not_before": NOT_BEFORE,
        "not_after": NOT_AFTER,
        "credential_id": CRED_ID,
    }
    args.update(overrides)
    return issue_credential(ISSUER, WALLET_PUB, **args)


CRED = make()


def parse_bytes(data: bytes) -> Credential:
    return Credential.from_array(decode(data, max_size=256, what="credential"))


# --- round trip ---------------------------------------------------------------------------


def test_round_trip():
    again = parse_bytes(CRED.to_bytes())
    assert again == CRED
    assert again.credential_id == CRED_ID
    assert again.visitor_key == WALLET_PUB
    assert again.not_before == NOT_BEFORE
    assert again.not_after == NOT_AFTER
    assert len(again.issuer_signature) == 64
    assert again.issuer_index([ISSUER.public_key()]) == 0


def test_array_form_and_signed_part():
    assert CRED.to_array() == [1, CRED_ID, WALLET_PUB, NOT_BEFORE, NOT_AFTER, CRED.issuer_signature]
    assert CRED.signed_part() == encode([1, CRED_ID, WALLET_PUB, NOT_BEFORE, NOT_AFTER])
    assert CRED.to_bytes() == encode(CRED.to_array())
    # The issuer signs the array without the signature, under the label "credential".
    keys.verify(ISSUER.public_key(), "credential", CRED.signed_part(), CRED.issuer_signature)
    assert VERSION == 1


def test_encoded_size_is_compact():
    # 1 + 1 + 9 + 34 + 5 + 5 + 66 bytes.
    assert len(CRED.to_bytes()) == 121


def test_holder_is_the_wallet_did_key():
    assert CRED.holder == keys.did_key(WALLET)
    assert keys.parse_did_key(CRED.holder) == WALLET_PUB


def test_random_credential_id():
    a = issue_credential(ISSUER, WALLET_PUB, not_before=1, not_after=2)
    b = issue_credential(ISSUER, WALLET_PUB, not_before=1, not_after=2)
    assert len(a.credential_id) == CREDENTIAL_ID_SIZE == 8
    assert a.credential_id != b.credential_id


# --- issuer trust ---------------------------------------------------------------------------


def test_issuer_index_finds_the_signing_key_among_several():
    trusted = [STRANGER.public_key(), OLD_ISSUER.public_key(), ISSUER.public_key()]
    assert CRED.issuer_index(trusted) == 2
    old = issue_credential(OLD_ISSUER, WALLET_PUB, not_before=1, not_after=2)
    assert old.issuer_index(trusted) == 1


def test_untrusted_issuer_is_unknown_key():
    with pytest.raises(UnknownKeyError):
        CRED.issuer_index([STRANGER.public_key(), OLD_ISSUER.public_key()])


def test_no_trusted_issuers_is_unknown_key():
    with pytest.raises(UnknownKeyError, match="no trusted issuer"):
        CRED.issuer_index([])


@pytest.mark.parametrize(
    "field, value",
    [
        ("credential_id", b"\x00" * 8),
        ("visitor_key", keys.public_bytes(STRANGER)),
        ("not_before", NOT_BEFORE - 1),
        ("not_after", NOT_AFTER + 1),
    ],
)
def test_changed_field_breaks_the_issuer_signature(field, value):
    args = {
        "credential_id": CRED.credential_id,
        "visitor_key": CRED.visitor_key,
        "not_before": CRED.not_before,
        "not_after": CRED.not_after,
        "issuer_signature": CRED.issuer_signature,
    }
    args[field] = value
    forged = Credential(**args)
    with pytest.raises(UnknownKeyError):
        forged.issuer_index([ISSUER.public_key()])


def test_issuer_signature_under_another_label_is_refused():
    sig = keys.sign(ISSUER, "presentation", CRED.signed_part())
    forged = Credential(CRED_ID, WALLET_PUB, NOT_BEFORE, NOT_AFTER, sig)
    with pytest.raises(UnknownKeyError):
        forged.issuer_index([ISSUER.public_key()])


def test_self_signed_credential_is_refused():
    forged = issue_credential(WALLET, WALLET_PUB, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    with pytest.raises(UnknownKeyError):
        forged.issuer_index([ISSUER.public_key()])


# --- validity period -------------------------------------------------------------------------


def test_validity_boundaries_inclusive():
    CRED.check_validity(NOT_BEFORE)
    CRED.check_validity(NOT_AFTER)
    CRED.check_validity(NOW)


def test_not_yet_valid():
    with pytest.raises(NotYetValidError):
        CRED.check_validity(NOT_BEFORE - 1)


def test_expired():
    with pytest.raises(ExpiredError):
        CRED.check_validity(NOT_AFTER + 1)


def test_skew_widens_the_period_both_ways():
    CRED.check_validity(NOT_BEFORE - 5, skew=5)
    CRED.check_validity(NOT_AFTER + 5, skew=5)
    with pytest.raises(NotYetValidError):
        CRED.check_validity(NOT_BEFORE - 6, skew=5)
    with pytest.raises(ExpiredError):
        CRED.check_validity(NOT_AFTER + 6, skew=5)


# --- parsing ----------------------------------------------------------------------------------


def array(**changes):
    value = CRED.to_array()
    index = {"v": 0, "id": 1, "key": 2, "nb": 3, "na": 4, "sig": 5}
    for name, new in changes.items():
        value[index[name]] = new
    return value


@pytest.mark.parametrize("version", [-1, 0, 2, 255, 256, 2**64 - 1])
def test_wrong_version_is_unsupported(version):
    with pytest.raises(UnsupportedVersionError):
        Credential.from_array(array(v=version))


@pytest.mark.parametrize(
    "changes",
    [
        {"v": True},
        {"v": "1"},
        {"id": b"\x00" * 7},
        {"id": b"\x00" * 9},
        {"id": "01234567"},
        {"key": b"\x00" * 31},
        {"key": b"\x00" * 33},
        {"nb": True},
        {"na": True},
        {"nb": False},
        {"nb": -1},
        {"nb": 2**32},
        {"na": 2**32},
        {"nb": None},
        {"nb": str(NOT_BEFORE)},
        {"sig": b"\x00" * 63},
        {"sig": b"\x00" * 65},
        {"sig": None},
        {"nb": NOT_AFTER},  # not_after must be after not_before
        {"nb": NOT_AFTER + 1},
    ],
)
def test_bad_fields_are_malformed(changes):
    with pytest.raises(MalformedError) as info:
        Credential.from_array(array(**changes))
    assert info.type is MalformedError


@pytest.mark.parametrize(
    "value",
    [None, 1, b"", {}, [], [1], CRED.to_array()[:5], [*CRED.to_array(), 0], tuple(CRED.to_array())],
)
def test_bad_shapes_are_malformed(value):
    with pytest.raises(MalformedError):
        Credential.from_array(value)


def test_maximum_times_accepted():
    value = array(nb=2**32 - 2, na=2**32 - 1)
    parsed = Credential.from_array(value)
    assert (parsed.not_before, parsed.not_after) == (2**32 - 2, 2**32 - 1)


def test_every_truncation_is_refused():
    assert_every_truncation_refused(CRED.to_bytes(), parse_bytes, error=TruncatedError)


def test_every_byte_flip_is_refused_or_untrusted():
    trusted = [ISSUER.public_key()]
    assert_every_flip_refused(
        CRED.to_bytes(), lambda bad: parse_bytes(bad).issuer_index(trusted), error=ProtocolError
    )


# --- issuing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"not_before": 10, "not_after": 10},
        {"not_before": 10, "not_after": 9},
        {"not_before": -1, "not_after": 9},
        {"not_before": 0, "not_after": 2**32},
        {"not_before": True, "not_after": 9},
        {"not_before": 0, "not_after": 9, "credential_id": b"\x00" * 7},
        {"not_before": 0, "not_after": 9, "credential_id": "abcdefgh"},
    ],
)
def test_issue_refuses_what_a_verifier_would_refuse(kwargs):
    with pytest.raises(MalformedError):
        issue_credential(ISSUER, WALLET_PUB, **kwargs)


@pytest.mark.parametrize("visitor_key", [b"", b"\x00" * 31, WALLET_PUB + b"\x00"])
def test_issue_refuses_bad_visitor_keys(visitor_key):
    with pytest.raises(MalformedError):
        issue_credential(ISSUER, visitor_key, not_before=0, not_after=9)
