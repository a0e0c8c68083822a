"""Checks shared by the wire-format unit tests (a helper module, not a test file).

Every signed message format must refuse the same kinds of damage: a flipped byte, a
truncation, trailing bytes and non-canonical CBOR. The helpers here run those checks on
a known-good wire, so that each test module states only what differs: its wire, its
parser and the error it expects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol import keys
from protocol.encoding import decode, encode
from protocol.errors import MalformedError, ProtocolError, TruncatedError

MASKS = (0x01, 0x80, 0xFF)


def seeded(label: str) -> Ed25519PrivateKey:
    """A deterministic Ed25519 key whose private bytes are the SHA-256 of label."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


# --- tampering and truncation --------------------------------------------------------------------


def flipped(wire: bytes, i: int, mask: int) -> bytes:
    """wire with byte i XORed with mask."""
    bad = bytearray(wire)
    bad[i] ^= mask
    return bytes(bad)


def every_flip(wire: bytes, masks: tuple[int, ...] = MASKS) -> Iterator[tuple[int, bytes]]:
    """(i, damaged wire) for every byte position i and every mask."""
    for i in range(len(wire)):
        for mask in masks:
            yield i, flipped(wire, i, mask)


def assert_every_flip_refused(
    wire: bytes,
    *checks: Callable[[bytes], Any],
    masks: tuple[int, ...] = MASKS,
    error: type[Exception] = ProtocolError,
) -> None:
    """Each check (parse, then verify) raises error for every single-byte flip of wire."""
    assert checks, "give at least one check"
    for _, bad in every_flip(wire, masks):
        for check in checks:
            with pytest.raises(error):
                check(bad)


def assert_every_truncation_refused(
    wire: bytes, parse: Callable[[bytes], Any], error: type[Exception] = TruncatedError
) -> None:
    """parse raises error for every proper prefix of wire, the empty one included."""
    for cut in range(len(wire)):
        with pytest.raises(error):
            parse(wire[:cut])


def assert_trailing_bytes_refused(
    wire: bytes,
    parse: Callable[[bytes], Any],
    extra: bytes,
    error: type[Exception] = MalformedError,
) -> None:
    """parse raises error for wire followed by extra."""
    with pytest.raises(error):
        parse(wire + extra)


# --- canonical CBOR ------------------------------------------------------------------------------


def assert_replacement_refused(
    wire: bytes,
    parse: Callable[[bytes], Any],
    old: bytes,
    new: bytes,
    match: str | None = "canonical",
) -> None:
    """old occurs once in wire; with new in its place (same value, other bytes), parse
    raises MalformedError whose message matches match (None: any message)."""
    assert wire.count(old) == 1
    with pytest.raises(MalformedError, match=match):
        parse(wire.replace(old, new))


def assert_indefinite_length_refused(wire: bytes, parse: Callable[[bytes], Any], head: int) -> None:
    """wire opens with the definite-length map or array head; spelt with an
    indefinite-length head and a break byte instead, parse raises MalformedError."""
    assert wire[0] == head
    indefinite = (head & 0xE0) | 0x1F
    with pytest.raises(MalformedError):
        parse(bytes([indefinite]) + wire[1:] + b"\xff")


def assert_keys_out_of_order_refused(
    wire: bytes, parse: Callable[[bytes], Any], max_size: int
) -> None:
    """The map wire with its keys in reverse order (same bytes per entry, same length)
    is refused as non-canonical, signature or not."""
    value = decode(wire, max_size=max_size, what="test")
    sloppy = cbor2.dumps(dict(reversed(list(value.items()))))
    assert sloppy != wire and len(sloppy) == len(wire)
    with pytest.raises(MalformedError, match="canonical"):
        parse(sloppy)


# --- signed maps ---------------------------------------------------------------------------------


def unsigned_map(wire: bytes, max_size: int, **changes: Any) -> dict:
    """The decoded map of wire without its "sig", with changes (a None value deletes)."""
    value = decode(wire, max_size=max_size, what="test")
    del value["sig"]
    for name, new in changes.items():
        if new is None:
            value.pop(name, None)
        else:
            value[name] = new
    return value


@dataclass(frozen=True)
class SignedMap:
    """A signed-map format (check-in, receipt, block header) around one known-good wire.

    key and label are what that wire was signed with; parse is the format's parser.
    """

    wire: bytes
    max_size: int
    key: Ed25519PrivateKey
    label: str
    parse: Callable[[bytes], Any]

    def body(self, **changes: Any) -> dict:
        """The wire's map without its signature, with changes (None deletes)."""
        return unsigned_map(self.wire, self.max_size, **changes)

    def reseal(
        self, value: dict, key: Ed25519PrivateKey | None = None, label: str | None = None
    ) -> bytes:
        """Sign an arbitrary map as the signer would, bypassing the sign_* checks."""
        key = self.key if key is None else key
        label = self.label if label is None else label
        return encode({**value, "sig": keys.sign(key, label, encode(value))})

    def parse_and_verify(self, data: bytes, key: Ed25519PrivateKey | None = None) -> Any:
        """Parse data, then verify it against key (default: the wire's signer)."""
        parsed = self.parse(data)
        parsed.verify((self.key if key is None else key).public_key())
        return parsed
