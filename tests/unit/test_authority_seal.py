"""Sealing to the health authority: per-purpose info, exact sizes, exact padding."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from protocol.authority_seal import (
    blob_size,
    check_sealed,
    info,
    open_from_authority,
    seal_to_authority,
)
from protocol.errors import (
    DecryptionError,
    MalformedError,
    OversizeError,
    TruncatedError,
    UnsupportedVersionError,
)

KEY = X25519PrivateKey.generate()


@given(st.binary(max_size=30))
def test_round_trip_at_one_size(data: bytes) -> None:
    blob = seal_to_authority(KEY.public_key(), "credential-owner", data, padded_size=32)
    assert len(blob) == blob_size(32)
    assert open_from_authority(KEY, "credential-owner", blob, padded_size=32) == data


def test_a_blob_for_one_purpose_never_opens_as_another() -> None:
    blob = seal_to_authority(KEY.public_key(), "card-owner", b"x" * 16, padded_size=32)
    with pytest.raises(DecryptionError):
        open_from_authority(KEY, "credential-owner", blob, padded_size=32)


def test_another_key_cannot_open() -> None:
    blob = seal_to_authority(KEY.public_key(), "card-owner", b"x", padded_size=32)
    with pytest.raises(DecryptionError):
        open_from_authority(X25519PrivateKey.generate(), "card-owner", blob, padded_size=32)


def test_too_much_data_is_refused() -> None:
    with pytest.raises(OversizeError):
        seal_to_authority(KEY.public_key(), "card-owner", b"x" * 31, padded_size=32)


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (b"\x01" * (blob_size(32) + 1), OversizeError),
        (b"\x01" * (blob_size(32) - 1), TruncatedError),
        (b"\x02" + bytes(blob_size(32) - 1), UnsupportedVersionError),
        ("text", MalformedError),
    ],
)
def test_framing_is_checked_before_opening(blob: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_sealed(blob, "card-owner", padded_size=32)


@pytest.mark.parametrize("purpose", ["", "Contact", "a/b", "x" * 33, "contact\n"])
def test_purposes_are_plain_labels(purpose: str) -> None:
    with pytest.raises(ValueError):
        info(purpose)
