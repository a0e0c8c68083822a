"""Signed maps: the envelope shared by check-in records, receipts and block headers.

A signed map is a canonical CBOR map holding ``v`` (format version), ``type``
(the message type, also the signature's domain label), the message's own
fields and ``sig``, an Ed25519 signature over the canonical encoding of the
map without ``sig``, prefixed with the domain label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys
from .encoding import decode, encode
from .errors import MalformedError, UnsupportedVersionError, WrongTypeError
from .schema import Check, raw, record

VERSION = 1


def seal(kind: str, fields: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """Encode ``fields`` as a signed map of type ``kind``."""
    body = {"v": VERSION, "type": kind, **fields}
    signature = keys.sign(key, kind, encode(body))
    return encode({**body, "sig": signature})


class Unsealed:
    """A parsed signed map whose signature is not yet checked."""

    __slots__ = ("kind", "fields", "signed_bytes", "signature")

    def __init__(self, kind: str, fields: dict[str, Any], signed_bytes: bytes, sig: bytes):
        self.kind = kind
        self.fields = fields
        self.signed_bytes = signed_bytes
        self.signature = sig

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise SignatureError unless ``public_key`` signed this map."""
        keys.verify(public_key, self.kind, self.signed_bytes, self.signature)


def unseal(data: bytes, kind: str, schema: Mapping[str, Check], *, max_size: int) -> Unsealed:
    """Parse a signed map of type ``kind`` strictly, leaving the signature to check."""
    value = decode(data, max_size=max_size, what=kind)
    if type(value) is not dict:
        raise MalformedError(f"{kind}: expected a map")
    version = value.get("v")
    if version != VERSION or type(version) is not int:
        raise UnsupportedVersionError(f"{kind}: unsupported version {version!r}")
    if value.get("type") != kind:
        raise WrongTypeError(f"expected a {kind}, got {str(value.get('type'))[:40]!r}")
    full_schema: dict[str, Check] = {
        "v": lambda v, n: v,
        "type": lambda v, n: v,
        **schema,
        "sig": raw(keys.SIGNATURE_SIZE),
    }
    fields = record(full_schema)(value, kind)
    sig = fields.pop("sig")
    signed_bytes = encode({k: v for k, v in value.items() if k != "sig"})
    del fields["v"], fields["type"]
    return Unsealed(kind, fields, signed_bytes, sig)
