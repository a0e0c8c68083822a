"""Sealing to the health authority: HPKE (RFC 9180) with fixed-size padded plaintexts.

One construction for everything only the health authority (HA) may read: contact
details (``protocol.contact``), the enrolment a day credential belongs to, and the
list of credentials in a batch. Base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-128-GCM, ``info`` = ``safecode/v1/`` + purpose, so a blob sealed for one purpose
never opens as another. The plaintext is padded to a size fixed per purpose, so a
blob's length says nothing about its content::

    blob  = version (0x01) || enc (32) || ciphertext (padded_size + 16)
    plain = len(data) as uint16 big-endian || data || zero bytes up to padded_size

Opening refuses another size, another version, a ciphertext that does not open, and
padding that is not exact, each with its own ``protocol.errors`` exception.
"""

from __future__ import annotations

import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .errors import (
    DecryptionError,
    MalformedError,
    OversizeError,
    TruncatedError,
    UnsupportedVersionError,
)

VERSION = 1
ENC_SIZE = 32
TAG_SIZE = 16
LENGTH_SIZE = 2
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,31}")


def info(purpose: str) -> bytes:
    """The HPKE ``info`` for ``purpose``: ``safecode/v1/<purpose>``."""
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError(f"not a sealing purpose: {purpose!r}")
    return b"safecode/v1/" + purpose.encode("ascii")


def blob_size(padded_size: int) -> int:
    """The exact size of every blob sealed with ``padded_size``."""
    return 1 + ENC_SIZE + padded_size + TAG_SIZE


def pad(data: bytes, padded_size: int, what: str) -> bytes:
    """Length-prefix ``data`` and fill with zero bytes up to ``padded_size``."""
    room = padded_size - LENGTH_SIZE
    if len(data) > room:
        raise OversizeError(f"{what}: {len(data)} bytes is over the {room}-byte limit")
    body = len(data).to_bytes(LENGTH_SIZE, "big") + data
    return body + bytes(padded_size - len(body))


def unpad(padded: bytes, what: str) -> bytes:
    """The data inside a padded plaintext, or MalformedError unless the padding is exact."""
    length = int.from_bytes(padded[:LENGTH_SIZE], "big")
    if length > len(padded) - LENGTH_SIZE:
        raise MalformedError(f"{what}: padded length is over the plaintext room")
    end = LENGTH_SIZE + length
    if any(padded[end:]):
        raise MalformedError(f"{what}: padding is not all zero bytes")
    return padded[LENGTH_SIZE:end]


def seal_to_authority(
    public_key: X25519PublicKey, purpose: str, data: bytes, *, padded_size: int
) -> bytes:
    """Encrypt ``data`` to the HA key for ``purpose``: a ``blob_size(padded_size)`` blob."""
    sealed = SUITE.encrypt(pad(data, padded_size, purpose), public_key, info=info(purpose))
    return bytes([VERSION]) + sealed


def check_sealed(blob: object, purpose: str, *, padded_size: int) -> None:
    """Check a blob's framing (type, size, version) without opening it."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise MalformedError(f"{purpose} blob: expected bytes, got {type(blob).__name__}")
    expected = blob_size(padded_size)
    if len(blob) > expected:
        raise OversizeError(f"{purpose} blob: {len(blob)} bytes, expected {expected}")
    if len(blob) < expected:
        raise TruncatedError(f"{purpose} blob: {len(blob)} bytes, expected {expected}")
    if blob[0] != VERSION:
        raise UnsupportedVersionError(f"{purpose} blob version {blob[0]} is not supported")


def open_from_authority(
    private_key: X25519PrivateKey, purpose: str, blob: bytes, *, padded_size: int
) -> bytes:
    """Decrypt a blob sealed for ``purpose`` with the HA private key, or raise a ProtocolError."""
    check_sealed(blob, purpose, padded_size=padded_size)
    try:
        padded = SUITE.decrypt(bytes(blob[1:]), private_key, info=info(purpose))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError(f"{purpose} blob: does not open with this key") from exc
    return unpad(padded, purpose)
